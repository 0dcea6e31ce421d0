"""The integrations beyond the first six, each delivering through the whole pipeline to a local
sink that checks the request Alertmanager's notifier would make (read from its notify/ code):
method, path, authentication and payload, firing and then resolved."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from guardia.alerting import Alertmanager
from guardia.alerting.stages import Backoff
from guardia.config import parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.config.errors import ConfigError
from guardia.web.alertmanager_v2 import alerts_from_postable
from tests.alerting.sinks import HTTPSink, Request

FAST = Backoff(initial_s=0.05, multiplier=1.5, jitter=0.0, max_s=0.2)
GROUP_KEY = '{}:{alertname="DiskFull"}'
GROUP_HASH = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
SECRET_KEY = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"

CONFIG = """
route: {{receiver: all, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
receivers:
  - name: all
    opsgenie_configs:
      - {{api_url: "{u}/opsgenie/", api_key: og-key-4711, priority: P1, tags: "disk,prod",
          responders: [{{name: "ops,dba", type: teams}}, {{username: ana@example.org, type: user}}]}}
    victorops_configs:
      - {{api_url: "{u}/victorops/", api_key: vo-key-4711, routing_key: ops-route,
          custom_fields: {{team: ops}}}}
    pushover_configs:
      - {{api_url: "{u}/pushover/1/messages.json", user_key: po-user-4711, token: po-token-4711}}
    discord_configs:
      - {{webhook_url: "{u}/discord/hook", username: guardia}}
    webex_configs:
      - {{api_url: "{u}/webex/messages", room_id: room-4711,
          http_config: {{authorization: {{credentials: webex-bot-4711}}}}}}
    msteamsv2_configs:
      - {{webhook_url: "{u}/teams2/workflow"}}
    jira_configs:
      - {{api_url: "{u}/jira/rest/api/2", project: OPS, issue_type: Bug, resolve_transition: Done,
          labels: [guardia], priority: High,
          fields: {{customfield_10001: "{{{{ .CommonLabels.instance }}}}"}}}}
    rocketchat_configs:
      - {{api_url: "{u}/rocket", channel: "#alerts", token: rc-token-4711, token_id: rc-user-4711}}
    sns_configs:
      - {{api_url: "{u}/sns/", topic_arn: "arn:aws:sns:eu-west-1:123456789012:alerts",
          sigv4: {{region: eu-west-1, access_key: AKIDGUARDIA4711, secret_key: {secret}}},
          attributes: {{team: ops}}}}
    wechat_configs:
      - {{api_url: "{u}/wechat/", api_secret: wx-secret-4711, corp_id: corp-4711, agent_id: "1000002"}}
"""


def responder(req: Request) -> bytes:
    path = req.path
    if path.startswith("/jira/rest/api/2/search"):
        issues = [] if not getattr(responder, "created", False) else [
            {"key": "OPS-7", "fields": {"status": {"statusCategory": {"key": "indeterminate"}}}}]
        return json.dumps({"issues": issues}).encode()
    if path == "/jira/rest/api/2/issue":
        responder.created = True  # type: ignore[attr-defined]
        return b'{"key": "OPS-7"}'
    if path.endswith("/transitions") and req.method == "GET":
        return b'{"transitions": [{"id": "11", "name": "Start"}, {"id": "31", "name": "Done"}]}'
    if path.startswith("/rocket/"):
        return b'{"success": true}'
    if path.startswith("/wechat/gettoken"):
        return b'{"access_token": "wx-token-1", "expires_in": 7200}'
    if path.startswith("/wechat/message/send"):
        return b'{"errcode": 0, "errmsg": "ok"}'
    return b'{"ok": true}'


def by_path(reqs: list[Request], prefix: str) -> list[Request]:
    return [r for r in reqs if r.path.startswith(prefix)]


async def _deliver() -> tuple[list[Request], list[Request]]:
    responder.created = False  # type: ignore[attr-defined]
    sink = await HTTPSink(responder=responder).start()
    cfg = parse_alertmanager_config(parse_yaml(CONFIG.format(u=sink.url, secret=SECRET_KEY), "am.yml"))
    async with Alertmanager(cfg, backoff=FAST, external_url="http://guardia.local:9090") as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "DiskFull", "instance": "db1",
                                                       "severity": "critical"},
                                            "annotations": {"summary": "disk 95% full"}}]))
        firing = list(await sink.wait_for(12, 15))
        await asyncio.sleep(0.3)
        await am.put(alerts_from_postable([{"labels": {"alertname": "DiskFull", "instance": "db1",
                                                       "severity": "critical"},
                                            "endsAt": "2000-01-01T00:00:00Z"}]))
        everything = list(await sink.wait_for(len(firing) + 12, 15))
        await asyncio.sleep(0.3)
    await sink.stop()
    return firing, everything[len(firing):]


@pytest.fixture(scope="module")
def delivered() -> tuple[list[Request], list[Request]]:
    """One delivery (firing, then resolved) through every integration, shared by the tests."""
    return asyncio.run(_deliver())


async def test_opsgenie(delivered: Any) -> None:
    firing, resolved = delivered
    [create] = by_path(firing, "/opsgenie/")
    assert (create.method, create.path) == ("POST", "/opsgenie/v2/alerts")
    assert create.headers["authorization"] == "GenieKey og-key-4711"
    body = create.json()
    assert body["alias"] == GROUP_HASH and body["message"].startswith("[FIRING:1] DiskFull")
    assert body["details"] == {"alertname": "DiskFull", "instance": "db1", "severity": "critical"}
    assert body["source"].startswith("http://guardia.local:9090/#/alerts?receiver=all")
    assert body["responders"] == [{"name": "ops", "type": "team"}, {"name": "dba", "type": "team"},
                                  {"username": "ana@example.org", "type": "user"}]
    assert body["tags"] == ["disk", "prod"] and body["priority"] == "P1"
    [close] = by_path(resolved, "/opsgenie/")
    assert close.path == f"/opsgenie/v2/alerts/{GROUP_HASH}/close?identifierType=alias"
    assert close.json() == {"source": body["source"]}


async def test_victorops(delivered: Any) -> None:
    firing, resolved = delivered
    [r] = by_path(firing, "/victorops/")
    assert r.path == "/victorops/vo-key-4711/ops-route"
    b = r.json()
    assert (b["message_type"], b["entity_id"], b["monitoring_tool"], b["team"]) == (
        "CRITICAL", GROUP_HASH, "Alertmanager", "ops")
    assert b["entity_display_name"].startswith("[FIRING:1] DiskFull")
    assert "disk 95% full" in b["state_message"]
    assert by_path(resolved, "/victorops/")[0].json()["message_type"] == "RECOVERY"


async def test_pushover(delivered: Any) -> None:
    firing, resolved = delivered
    [r] = by_path(firing, "/pushover/")
    assert r.method == "POST" and r.body == b""
    q = dict(parse_qsl(urlsplit(r.path).query, keep_blank_values=True))
    assert (q["token"], q["user"], q["priority"], q["retry"], q["expire"]) == (
        "po-token-4711", "po-user-4711", "2", "60", "3600")
    assert q["title"].startswith("[FIRING:1] DiskFull") and "disk 95% full" in q["message"]
    q2 = dict(parse_qsl(urlsplit(by_path(resolved, "/pushover/")[0].path).query, keep_blank_values=True))
    assert q2["priority"] == "0" and q2["title"].startswith("[RESOLVED] DiskFull")


async def test_discord(delivered: Any) -> None:
    firing, resolved = delivered
    b = by_path(firing, "/discord/hook")[0].json()
    assert b["username"] == "guardia" and len(b["embeds"]) == 1
    assert b["embeds"][0]["color"] == 0x992D22 and b["embeds"][0]["title"].startswith("[FIRING:1] DiskFull")
    assert by_path(resolved, "/discord/hook")[0].json()["embeds"][0]["color"] == 0x2ECC71


async def test_webex(delivered: Any) -> None:
    firing, _ = delivered
    [r] = by_path(firing, "/webex/messages")
    assert r.headers["authorization"] == "Bearer webex-bot-4711"
    b = r.json()
    assert b["roomId"] == "room-4711" and b["markdown"].startswith("[FIRING:1] DiskFull")


async def test_msteams_v2(delivered: Any) -> None:
    firing, resolved = delivered
    b = by_path(firing, "/teams2/workflow")[0].json()
    assert b["type"] == "message"
    [att] = b["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive" and att["contentUrl"] is None
    card = att["content"]
    assert (card["type"], card["version"], card["msteams"]) == ("AdaptiveCard", "1.2", {"width": "full"})
    assert card["body"][0]["color"] == "Attention"
    assert card["body"][0]["text"].startswith("[FIRING:1] DiskFull")
    assert by_path(resolved, "/teams2/")[0].json()["attachments"][0]["content"]["body"][0]["color"] == "Good"


async def test_jira(delivered: Any) -> None:
    firing, resolved = delivered
    search, create = by_path(firing, "/jira/")
    assert (search.method, search.path, create.method, create.path) == (
        "POST", "/jira/rest/api/2/search", "POST", "/jira/rest/api/2/issue")
    jql = (f'statusCategory != Done and project="OPS" and labels="ALERT{{{GROUP_HASH}}}" '
           "order by status ASC,resolutiondate DESC")
    assert search.json() == {"jql": jql, "maxResults": 2, "fields": ["status"]}
    f = create.json()["fields"]
    assert (f["project"], f["issuetype"]) == ({"key": "OPS"}, {"name": "Bug"})
    assert f["priority"] == {"name": "High"}
    assert f["labels"] == sorted(["guardia", f"ALERT{{{GROUP_HASH}}}"]) and f["customfield_10001"] == "db1"
    assert f["summary"].startswith("[FIRING:1] DiskFull")
    assert [(r.method, r.path) for r in by_path(resolved, "/jira/")] == [
        ("POST", "/jira/rest/api/2/search"), ("PUT", "/jira/rest/api/2/issue/OPS-7"),
        ("GET", "/jira/rest/api/2/issue/OPS-7/transitions"),
        ("POST", "/jira/rest/api/2/issue/OPS-7/transitions")]
    assert by_path(resolved, "/jira/")[-1].json() == {"transition": {"id": "31"}}


async def test_rocketchat(delivered: Any) -> None:
    firing, _ = delivered
    [r] = by_path(firing, "/rocket/")
    assert r.path == "/rocket/api/v1/chat.postMessage"
    assert (r.headers["x-auth-token"], r.headers["x-user-id"]) == ("rc-token-4711", "rc-user-4711")
    b = r.json()
    assert b["channel"] == "#alerts" and b["emoji"] == ":exclamation:"
    [att] = b["attachments"]
    assert att["color"] == "red" and att["title"].startswith("[FIRING:1] DiskFull")
    assert att["title_link"].startswith("http://guardia.local:9090/#/alerts")


async def test_sns_publish_signed_with_sigv4(delivered: Any) -> None:
    firing, _ = delivered
    [r] = by_path(firing, "/sns/")
    form = dict(parse_qsl(r.body.decode()))
    assert (form["Action"], form["Version"], form["TopicArn"]) == (
        "Publish", "2010-03-31", "arn:aws:sns:eu-west-1:123456789012:alerts")
    assert form["Subject"].startswith("[FIRING:1] DiskFull") and "disk 95% full" in form["Message"]
    assert (form["MessageAttributes.entry.1.Name"], form["MessageAttributes.entry.1.Value.StringValue"]) == (
        "team", "ops")
    # the signature, recomputed by botocore (AWS's own library) over the signed headers
    botocore_auth = pytest.importorskip("botocore.auth")
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = r.headers["authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential=AKIDGUARDIA4711/{r.headers['x-amz-date'][:8]}"
                           "/eu-west-1/sns/aws4_request")
    req = AWSRequest("POST", f"http://{r.headers['host']}{r.path}", data=r.body,
                     headers={k: r.headers[k] for k in signed})
    req.context["timestamp"] = r.headers["x-amz-date"]
    v4 = botocore_auth.SigV4Auth(Credentials("AKIDGUARDIA4711", SECRET_KEY), "sns", "eu-west-1")
    expected = v4.signature(v4.string_to_sign(req, v4.canonical_request(req)), req)
    assert auth.endswith(f"Signature={expected}")
    assert dt.datetime.strptime(r.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")


async def test_wechat(delivered: Any) -> None:
    firing, resolved = delivered
    token, send = by_path(firing, "/wechat/")
    assert token.method == "GET"
    assert token.path == "/wechat/gettoken?corpsecret=wx-secret-4711&corpid=corp-4711"
    assert send.path == "/wechat/message/send?access_token=wx-token-1"
    b = send.json()
    assert (b["touser"], b["agentid"], b["msgtype"], b["safe"]) == ("@all", "1000002", "text", "0")
    assert b["text"]["content"].startswith("[FIRING:1] DiskFull")
    assert by_path(resolved, "/wechat/") == []  # send_resolved is false by default, as in Alertmanager


@pytest.mark.parametrize(("conf", "message"), [
    ("opsgenie_configs: [{api_key: k-4711, responders: [{name: x, type: robot}]}]", "type does not match"),
    ("victorops_configs: [{api_key: k-4711}]", "missing Routing key in VictorOps config"),
    ("pushover_configs: [{user_key: u-4711}]", "one of token or token_file must be configured"),
    ("discord_configs: [{}]", "one of webhook_url or webhook_url_file must be configured"),
    ("webex_configs: [{room_id: r}]", "missing webex_configs.http_config.authorization"),
    ("msteamsv2_configs: [{}]", "one of webhook_url or webhook_url_file must be configured"),
    ("jira_configs: [{api_url: 'http://j/rest/api/2', issue_type: Bug}]", "missing project in jira_config"),
    ("rocketchat_configs: [{token: t-4711}]", "one of token_id or token_id_file must be configured"),
    ("sns_configs: [{sigv4: {region: r, access_key: a, secret_key: s-4711}}]",
     "must provide either a Target ARN, Topic ARN, or Phone Number"),
    ("wechat_configs: [{api_secret: s-4711, corp_id: c, message_type: html}]",
     "does not match valid options"),
    ("opsgenie_configs: [{api_key: ChangeMe123!}]", "placeholder"),
])
def test_bad_configs_are_refused(conf: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_alertmanager_config(parse_yaml(f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    {conf}\n",
                                             "am.yml"))
