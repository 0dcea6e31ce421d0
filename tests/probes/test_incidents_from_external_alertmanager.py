"""Status page incidents when guardia has no Alertmanager of its own: the alerts come from the
external Alertmanager ``alerting.alertmanagers`` names (Debian's prometheus-alertmanager here),
with its silences applied; one that cannot be asked leaves the incidents as they are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from guardia.probes.status import StatusStore, alert_sync_loop
from guardia.rules.notifier import AlertmanagerTarget
from guardia.web.status.silences import firing_alerts_external
from tests.alerting.amproc import ALERTMANAGER, RealAlertmanager, free_port
from tests.probes.conftest import Targets
from tests.probes.servers import Handler
from tests.probes.test_status_browser import wait_for
from tests.test_serve import Serve

pytestmark = pytest.mark.skipif(not Path(ALERTMANAGER).exists(),
                                reason="Debian prometheus-alertmanager is not installed")

CONFIG = """
global: {{evaluation_interval: 1s}}
rule_files: [rules.yml]
scrape_configs: []
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am}"]}}]}}]
probes:
  - {{name: shop, module: http_2xx, targets: ["http://{http}/flaky?id=ext-shop"], interval: 1s}}
status_pages:
  - slug: public
    title: Shop status
    incident_alerts: ['severity="critical"']
    groups: [{{name: Services, probes: [shop]}}]
"""
RULES = """
groups:
  - name: probes
    rules:
      - alert: ShopDown
        expr: probe_success{job="shop"} == 0
        labels: {severity: critical}
        annotations: {summary: "The shop is down", description: "Orders fail."}
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[RealAlertmanager]:
    cfg = tmp_path / "am.yml"
    cfg.write_text("route: {receiver: nobody, group_wait: 0s}\nreceivers: [{name: nobody}]\n")
    am = RealAlertmanager(cfg, tmp_path / "am-data")
    try:
        asyncio.run(am.ready())
        yield am
    finally:
        am.stop()


def test_an_alert_in_the_external_alertmanager_opens_and_resolves_an_incident(
        tmp_path: Path, targets: Targets, alertmanager: RealAlertmanager) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.format(am=alertmanager.port, http=targets.http))
    Handler.failing.add("ext-shop")
    s = Serve(tmp_path, "--config.file", str(cfg))
    try:
        s.wait_ready()
        assert s.http.get("/api/v2/alerts").status_code != 200  # no Alertmanager inside this guardia

        def page() -> str:
            return s.http.get("/status/public").text

        wait_for("incident opened from the external Alertmanager's alert",
                 lambda: "The shop is down" in page())
        assert "Orders fail." in page()
        Handler.failing.discard("ext-shop")
        wait_for("incident resolved with the alert", lambda: "Past incidents" in page()
                 and "The shop is down" in page().split("Past incidents")[1], timeout=60)
    finally:
        Handler.failing.discard("ext-shop")
        s.stop()


def test_silenced_alerts_open_nothing_and_an_unreachable_alertmanager_resolves_nothing(
        alertmanager: RealAlertmanager) -> None:
    now = time.time()
    alert = {"labels": {"alertname": "ShopDown", "severity": "critical", "job": "shop"},
             "annotations": {"summary": "The shop is down"},
             "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))}
    quiet = {"labels": {"alertname": "DbSlow", "severity": "critical"}, "annotations": {},
             "startsAt": alert["startsAt"]}
    httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert, quiet]).raise_for_status()
    httpx.post(f"{alertmanager.url}/api/v2/silences", json={
        "matchers": [{"name": "alertname", "value": "DbSlow", "isRegex": False, "isEqual": True}],
        "startsAt": alert["startsAt"], "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "test", "comment": "known"}).raise_for_status()

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            up = AlertmanagerTarget(f"{alertmanager.url}/api/v2/alerts", client, 5)
            down = AlertmanagerTarget(f"http://127.0.0.1:{free_port()}/api/v2/alerts", client, 2)
            got = await firing_alerts_external([down, up])  # the first that answers
            assert got is not None and [a["labels"]["alertname"] for a in got] == ["ShopDown"]
            assert await firing_alerts_external([down]) is None

            store = StatusStore(None)
            stop = asyncio.Event()
            pages = {"public": ['severity="critical"']}
            source = [up]

            async def alerts() -> list[dict[str, object]] | None:
                return await firing_alerts_external(source)  # type: ignore[return-value]

            task = asyncio.create_task(alert_sync_loop(store, lambda: pages, alerts, stop, every_s=0.1))
            await asyncio.sleep(1)
            [inc] = store.incidents.values()
            assert inc.open and inc.title == "The shop is down"  # the silenced DbSlow opened nothing
            source[:] = [down]  # the Alertmanager cannot be asked: the incident stays open
            await asyncio.sleep(1)
            assert inc.open
            stop.set()
            await task

    asyncio.run(run())
