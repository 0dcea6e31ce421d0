"""The new integrations against the real Alertmanager (Debian's 0.25): the same alertmanager.yml
(explicit templates, so only the integration code differs) and the same alert, sent to both;
every request each makes to the sink is compared (method, path, query, body).  0.25 has
Opsgenie, VictorOps, Discord, Webex, SNS and WeChat among the new ones; Pushover's URL is fixed in
it, and Teams workflows, Jira and Rocket.Chat came later (they are checked against Alertmanager's
code in test_integrations.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from guardia.alerting import Alertmanager
from guardia.config import parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.web.alertmanager_v2 import alerts_from_postable
from tests.alerting.amproc import ALERTMANAGER, RealAlertmanager
from tests.alerting.sinks import HTTPSink, Request

pytestmark = pytest.mark.skipif(not Path(ALERTMANAGER).exists(),
                                reason="Debian prometheus-alertmanager missing")

T = "{{ .Status }} {{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }}"
CONFIG = f"""
global: {{resolve_timeout: 5m}}
route: {{receiver: all, group_by: [alertname], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}
receivers:
  - name: all
    opsgenie_configs:
      - {{api_url: "SINK/opsgenie/", api_key: og-key-4711, message: "{T}", description: "{T}",
          source: guardia-test, tags: "disk,prod", priority: P2, note: "{T}",
          responders: [{{name: ops, type: team}}], details: {{runbook: "http://wiki/disk"}}}}
    victorops_configs:
      - {{api_url: "SINK/victorops/", api_key: vo-key-4711, routing_key: ops, state_message: "{T}",
          entity_display_name: "{T}", monitoring_tool: guardia-test, custom_fields: {{team: ops}}}}
    discord_configs:
      - {{webhook_url: "SINK/discord/hook", title: "{T}", message: "{T}"}}
    webex_configs:
      - {{api_url: "SINK/webex/messages", room_id: room-4711, message: "{T}",
          http_config: {{authorization: {{credentials: webex-bot-4711}}}}}}
    wechat_configs:
      - {{api_url: "SINK/wechat/", api_secret: wx-secret-4711, corp_id: corp-4711, agent_id: "1000002",
          to_user: "@all", message: "{T}", send_resolved: true}}
    sns_configs:
      - {{api_url: "SINK/sns/", topic_arn: "arn:aws:sns:eu-west-1:123456789012:alerts", subject: "{T}",
          message: "{T}", sigv4: {{region: eu-west-1, access_key: AKIDGUARDIA4711, secret_key: s3cr3t-4711}}}}
"""

SNS_OK = (b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
          b"<MessageId>1</MessageId></PublishResult><ResponseMetadata><RequestId>2</RequestId>"
          b"</ResponseMetadata></PublishResponse>")


def responder(req: Request) -> bytes:
    path = req.path.split("/", 2)[2] if req.path.count("/") >= 2 else req.path
    if path.startswith("wechat/gettoken"):
        return b'{"access_token": "wx-token-1", "expires_in": 7200}'
    if path.startswith("wechat/message/send"):
        return b'{"errcode": 0, "errmsg": "ok"}'
    if path.startswith("sns/"):
        return SNS_OK
    return b'{"ok": true}'


def shape(r: Request, side: str) -> tuple[str, str, Any, Any]:
    """What is compared of one request: method, path, query and body (JSON, or form fields)."""
    u = urlsplit(r.path.removeprefix(side))
    query = sorted(parse_qsl(u.query, keep_blank_values=True))
    ctype = r.headers.get("content-type", "")
    if "json" in ctype and r.body:
        body: Any = json.loads(r.body)
    elif "form" in ctype:
        body = sorted(parse_qsl(r.body.decode(), keep_blank_values=True))
    else:
        body = r.body.decode()
    return r.method, u.path, query, body


def by_integration(reqs: list[Request], side: str) -> dict[str, list[tuple[str, str, Any, Any]]]:
    out: dict[str, list[tuple[str, str, Any, Any]]] = {}
    for r in reqs:
        if r.path.startswith(side + "/"):
            s = shape(r, side)
            out.setdefault(s[1].split("/")[1], []).append(s)
    return out


async def test_requests_match_alertmanager_0_25(tmp_path: Path) -> None:
    sink = await HTTPSink(responder=responder).start()
    am_cfg = tmp_path / "am.yml"
    am_cfg.write_text(CONFIG.replace("SINK", f"{sink.url}/am"))
    g_cfg = parse_alertmanager_config(parse_yaml(CONFIG.replace("SINK", f"{sink.url}/g"), "g.yml"))
    real = RealAlertmanager(am_cfg, tmp_path / "am-data")
    guardia = Alertmanager(g_cfg, data_dir=tmp_path / "g-data", external_url=real.url)
    alert = {"labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
             "annotations": {"summary": "disk 95% full"}}
    try:
        await real.ready()
        await guardia.start()
        async with httpx.AsyncClient(base_url=real.url) as client:
            (await client.post("/api/v2/alerts", json=[alert])).raise_for_status()
            await guardia.put(alerts_from_postable([alert]))
            await sink.wait_for(14, 20)
            await asyncio.sleep(1.5)
            ended = {**alert, "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))}
            (await client.post("/api/v2/alerts", json=[ended])).raise_for_status()
            await guardia.put(alerts_from_postable([ended]))
            await sink.wait_for(26, 20)
            await asyncio.sleep(1.5)
    finally:
        real.stop()
        await guardia.stop()
        await sink.stop()
    ref, got = by_integration(sink.requests, "/am"), by_integration(sink.requests, "/g")
    assert sorted(ref) == ["discord", "opsgenie", "sns", "victorops", "webex", "wechat"], ref.keys()
    diffs = {name: (ref[name], got.get(name)) for name in sorted(ref) if got.get(name) != ref[name]}
    assert not diffs, json.dumps(diffs, default=str)
