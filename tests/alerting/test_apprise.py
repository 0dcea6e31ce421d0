"""The apprise receiver delivers through the Apprise library (pip apprise) to local endpoints:
its JSON and ntfy plugins, firing then resolved; unknown URLs and placeholders are refused."""

from __future__ import annotations

import asyncio

import pytest

from guardia.alerting import Alertmanager
from guardia.alerting.stages import Backoff
from guardia.config import parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.config.errors import ConfigError
from guardia.web.alertmanager_v2 import alerts_from_postable
from tests.alerting.sinks import HTTPSink

pytest.importorskip("apprise")
FAST = Backoff(initial_s=0.05, multiplier=1.5, jitter=0.0, max_s=0.2)


async def test_json_and_ntfy_endpoints_get_the_alert() -> None:
    sink = await HTTPSink().start()
    port = sink.port
    cfg = parse_alertmanager_config(parse_yaml(f"""
route: {{receiver: phones, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers:
  - name: phones
    apprise_configs:
      - urls: ["json://127.0.0.1:{port}/apprise-json", "ntfy://127.0.0.1:{port}/guardia-alerts"]
""", "am.yml"))
    async with Alertmanager(cfg, backoff=FAST) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "BackupMissing", "job": "nightly"},
                                            "annotations": {"summary": "no backup since Monday"}}]))
        firing = list(await sink.wait_for(2, 15))
        await asyncio.sleep(0.2)
        await am.put(alerts_from_postable([{"labels": {"alertname": "BackupMissing", "job": "nightly"},
                                            "endsAt": "2000-01-01T00:00:00Z"}]))
        allreq = list(await sink.wait_for(4, 15))
    await sink.stop()
    js = next(r for r in firing if r.path == "/apprise-json").json()
    assert js["title"].startswith("[FIRING:1] BackupMissing") and "no backup since Monday" in js["message"]
    assert js["type"] == "failure"
    nt = next(r for r in firing if r.path != "/apprise-json")
    body = nt.json()
    assert body["topic"] == "guardia-alerts" and body["title"].startswith("[FIRING:1] BackupMissing")
    resolved = next(r for r in allreq[len(firing):] if r.path == "/apprise-json").json()
    assert resolved["type"] == "success" and resolved["title"].startswith("[RESOLVED] BackupMissing")


@pytest.mark.parametrize(("urls", "message"), [
    ("[]", "list at least one Apprise URL"),
    ("['carrierpigeon://coop/1']", "Apprise does not understand this URL (scheme 'carrierpigeon')"),
    ("['ntfy://YOUR_TOKEN@ntfy.example.org/alerts']", "placeholder"),
])
def test_bad_urls_are_refused(urls: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_alertmanager_config(parse_yaml(
            f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    apprise_configs: [{{urls: {urls}}}]\n",
            "am.yml"))
