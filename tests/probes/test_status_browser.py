"""Status pages in Debian's Chromium (Playwright) against a real `guardia serve`.

An incident opened by an alert appears and resolves; a maintenance window scheduled with the
editors' form mutes its alert (a real silence) and keeps its probe's failures out of the uptime
figure; a heartbeat that stops reporting goes down after its grace period.  Screenshots are
kept in tests/probes/artifacts/.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.probes.conftest import Targets
from tests.probes.servers import Handler
from tests.test_serve import Serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")

TOKEN = "nightly-backup-7f3a9c2e"
CONFIG = """
global: {{evaluation_interval: 1s}}
rule_files: [rules.yml]
scrape_configs: []
alertmanager:
  route: {{receiver: nobody, group_wait: 0s}}
  receivers: [{{name: nobody}}]
probes:
  - {{name: shop, module: http_2xx, targets: ["http://{http}/flaky?id=shop"], interval: 1s,
     description: "Online shop"}}
  - {{name: db, module: http_2xx, targets: ["http://{http}/flaky?id=db"], interval: 1s}}
  - name: backup
    heartbeat: {{token: {token}, period: 2s, grace: 1s}}
status_pages:
  - slug: public
    title: Shop status
    description: Orders, payments and the nightly backup
    editors: {{username: ops, password: s3cret-editor}}
    incident_alerts: ['severity="critical"']
    groups:
      - {{name: Services, probes: [shop, db]}}
      - {{name: Jobs, probes: [backup]}}
"""
RULES = """
groups:
  - name: probes
    rules:
      - alert: ProbeDown
        expr: probe_success == 0
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.job }} is down"
          description: "{{ $labels.instance }} fails its probe"
"""


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path, targets: Targets) -> Iterator[Serve]:
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.format(http=targets.http, token=TOKEN))
    Handler.failing.clear()
    s = Serve(tmp_path, "--config.file", str(cfg))
    try:
        s.wait_ready()
        yield s
    finally:
        Handler.failing.clear()
        if s.proc.poll() is None:
            s.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def test_incident_maintenance_and_heartbeat_in_chromium(served: Serve, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"{served.url}/status/public"
    assert httpx.get(f"{served.url}/api/push/{TOKEN}").json() == {"ok": True}
    pushing = threading.Event()
    pushing.set()

    def cron() -> None:  # the backup job reporting in, until it "stops"
        while pushing.is_set():
            httpx.get(f"{served.url}/api/push/{TOKEN}", params={"msg": "backup ok"})
            time.sleep(0.5)

    threading.Thread(target=cron, daemon=True).start()
    ctx = browser.new_context(viewport={"width": 1100, "height": 1400},
                              http_credentials={"username": "ops", "password": "s3cret-editor"})
    page = ctx.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(served.url)
               else route.abort())  # nothing leaves the machine (the page has no external assets)

    def text() -> str:
        page.goto(url)
        return str(page.inner_text("body"))

    wait_for("all operational", lambda: "All systems operational" in text())
    page.screenshot(path=str(ARTIFACTS / "status-1-operational.png"), full_page=True)

    # an alert on the shop's probe opens an incident that appears on the page ...
    Handler.failing.add("shop")
    wait_for("incident opened by the ProbeDown alert", lambda: "shop is down" in text())
    assert "fails its probe" in text()
    page.screenshot(path=str(ARTIFACTS / "status-2-incident.png"), full_page=True)
    # ... and resolves with it
    Handler.failing.discard("shop")
    wait_for("incident resolved with the alert", lambda: "Past incidents" in text()
             and "shop is down" in page.inner_text("body").split("Past incidents")[1])
    page.screenshot(path=str(ARTIFACTS / "status-3-resolved.png"), full_page=True)

    # maintenance for db, scheduled by a person with the editors' form
    page.goto(f"{url}/manage")
    page.fill("form[action$='/manage/maintenance'] input[name=title]", "Database upgrade")
    now = time.gmtime(time.time() - 60)
    later = time.gmtime(time.time() + 3600)
    page.fill("input[name=start]", time.strftime("%Y-%m-%dT%H:%M", now))
    page.fill("input[name=end]", time.strftime("%Y-%m-%dT%H:%M", later))
    page.check("input[name=probes][value=db]")
    page.fill("form[action$='/manage/maintenance'] textarea[name=description]", "PostgreSQL 16")
    page.click("form[action$='/manage/maintenance'] button")
    wait_for("maintenance shown", lambda: "Database upgrade" in text())
    Handler.failing.add("db")
    # the alert fires but is muted by the maintenance's silence, so no incident opens
    def suppressed() -> bool:
        alerts = httpx.get(f"{served.url}/api/v2/alerts").json()
        return any(a["labels"].get("job") == "db" and a["status"]["state"] == "suppressed"
                   and a["status"]["silencedBy"] for a in alerts)
    wait_for("db's alert silenced by the maintenance", suppressed)
    time.sleep(6)  # two incident syncs
    body = text()
    assert "db is down" not in body
    db = body.split("db")[1]
    assert "Maintenance" in db
    # db failed for seconds, all inside the window: its uptime is untouched
    db_row = page.inner_text("#monitor-db")
    assert "100%" in db_row or "maintenance" in db_row, db_row
    assert "%" not in db_row.replace("100%", "")
    page.screenshot(path=str(ARTIFACTS / "status-4-maintenance.png"), full_page=True)

    # the backup stops pushing: after period (2 s) + grace (1 s) it is down
    assert "Down" not in page.inner_text("#monitor-backup")
    pushing.clear()
    wait_for("heartbeat down", lambda: "Down" in (text(), page.inner_text("#monitor-backup"))[1])
    page.screenshot(path=str(ARTIFACTS / "status-5-heartbeat-down.png"), full_page=True)

    # at phone width the page still reads (no horizontal scroll), 30 bars a row
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.goto(url)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert phone.evaluate("[...document.querySelectorAll('#monitor-shop .bars span')]"
                          ".filter(s => s.offsetWidth > 0).length") == 30
    phone.screenshot(path=str(ARTIFACTS / "status-6-phone.png"), full_page=True)
    shutil.copy(ARTIFACTS / "status-4-maintenance.png", ARTIFACTS / "status-page.png")
