"""Status pages over HTTP: rendering, auth, badges, feeds, editing forms, maintenance, subscriptions."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from guardia.alerting.silence import Silences
from guardia.model import Labels
from guardia.probes.config import load_probes
from guardia.probes.service import ProbeService, TargetState
from guardia.probes.status import StatusStore
from guardia.probes.subscribers import SubscriberNotifier
from guardia.probes.uptime import DAY_MS, UptimeCache
from guardia.storage.memory import MemoryStorage
from guardia.web.status.pages import StatusDeps, StatusSite
from guardia.web.status.silences import SilencesInMs

CONFIG = """
probes:
  - {name: api, module: tcp_connect, targets: ["127.0.0.1:1"], description: "Public API"}
  - {name: web, module: tcp_connect, targets: ["127.0.0.1:2"]}
  - name: backup
    heartbeat: {token: nightly-backup-7f3a9c2e, period: 24h}
status_pages:
  - slug: public
    title: Example status
    description: Everything the customers see
    logo: https://example.com/logo.png
    editors: {username: ops, password: s3cret-editor}
    groups:
      - {name: Services, probes: [api, web], services: [checkout]}
      - {name: Jobs, probes: [backup]}
  - slug: internal
    title: Internal
    public: false
    auth: {username: team, password: inside-only}
    groups: [{name: All, probes: [api]}]
"""

EDITOR = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret-editor").decode()}


@dataclass
class Site:
    client: TestClient
    service: ProbeService
    store: StatusStore
    silences: Silences
    now: float


def _history(storage: MemoryStorage, job: str, now_ms: int, bad_day: int | None = None,
             metric: str = "probe_success") -> None:
    today = now_ms - now_ms % DAY_MS
    ts = np.arange(today - 89 * DAY_MS, now_ms, 300_000, dtype=np.int64)
    vals = np.ones(ts.shape)
    if bad_day is not None:
        day = (ts - (today - 89 * DAY_MS)) // DAY_MS
        vals[day == bad_day] = 0
    storage.add_series(Labels({"__name__": metric, "job": job, "instance": "x"}), ts.tolist(),
                       vals.tolist())
    storage.add_series(Labels({"__name__": "probe_duration_seconds", "job": job, "instance": "x"}),
                       ts[-300:].tolist(), (0.05 + 0.01 * np.sin(np.arange(300))).tolist())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    cfg_file = tmp_path / "guardia.yml"
    cfg_file.write_text(CONFIG)
    now = time.time()
    storage = MemoryStorage()
    _history(storage, "api", int(now * 1000), bad_day=80)
    _history(storage, "web", int(now * 1000))
    _history(storage, "checkout", int(now * 1000), bad_day=85, metric="up")
    service = ProbeService(storage)
    service.apply_config(load_probes(str(cfg_file)))
    for m in service.config.monitors:
        if m.module is not None:
            state = service.states.setdefault((m.name, m.targets[0]), TargetState(m.name, m.targets[0]))
            state.record(True, "", 0, int(now * 1000))
    service.push("nightly-backup-7f3a9c2e")
    silences = Silences(tmp_path / "silences.json")
    store = StatusStore(tmp_path / "status.json", silences=SilencesInMs(silences))
    SubscriberNotifier(store, lambda: service.config.status_pages, "http://status.example.com")
    deps = StatusDeps(service, store, UptimeCache(storage, store.windows), storage, "http://status.example.com")
    app = Starlette(routes=StatusSite(deps).routes())
    with TestClient(app) as client:
        yield Site(client, service, store, silences, now)


def test_the_page_shows_state_bars_percentages_and_response_times(site: Site) -> None:
    r = site.client.get("/status/public")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert "Example status" in html and "All systems operational" in html
    assert "<script" not in html  # works without JavaScript
    assert html.count('<div class="bars"') == 4
    api = html.split('id="monitor-api"')[1].split('id="monitor-web"')[0]
    assert api.count("<span class=") >= 90 and 'class="down" title=' in api  # the bad day
    assert "98.9" in api  # 89 good days of 90 -> 98.9%
    assert "<polyline" in api and "avg 50 ms" in api
    assert "Public API" in api


def test_a_private_page_asks_for_credentials(site: Site) -> None:
    r = site.client.get("/status/internal")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    auth = base64.b64encode(b"team:inside-only").decode()
    assert site.client.get("/status/internal", headers={"Authorization": f"Basic {auth}"}).status_code == 200
    assert "Internal" not in site.client.get("/status").text  # not listed publicly
    assert site.client.get("/status/nope").status_code == 404


def test_badges(site: Site) -> None:
    status = site.client.get("/status/public/badge/api/status.svg")
    assert status.headers["content-type"] == "image/svg+xml" and "operational" in status.text
    ET.fromstring(status.text)
    uptime = site.client.get("/status/public/badge/api/uptime.svg", params={"window": "90d"})
    assert "98.9" in uptime.text
    assert site.client.get("/status/public/badge/api/uptime.svg", params={"window": "5y"}).status_code == 400
    assert site.client.get("/status/public/badge/db/status.svg").status_code == 404


def test_editing_needs_the_editors_and_incidents_show_on_page_and_feeds(site: Site) -> None:
    assert site.client.get("/status/public/manage").status_code == 401
    manage = site.client.get("/status/public/manage", headers=EDITOR)
    assert manage.status_code == 200 and 'id="state-api"' in manage.text
    assert site.client.get("/status/internal/manage").status_code == 403  # no editors configured
    r = site.client.post("/status/public/manage/incidents", headers=EDITOR, follow_redirects=False,
                         data={"title": "Slow logins", "status": "investigating", "impact": "minor",
                               "message": "We are looking into slow logins."})
    assert r.status_code == 303
    [inc] = site.store.page_incidents("public")
    page = site.client.get("/status/public").text
    assert "Slow logins" in page and "We are looking into slow logins." in page
    site.client.post(f"/status/public/manage/incidents/{inc.id}", headers=EDITOR,
                     data={"status": "resolved", "message": "Fixed."})
    detail = site.client.get(f"/status/public/incidents/{inc.id}").text
    assert detail.index("Fixed.") < detail.index("We are looking into slow logins.")  # newest first
    atom = ET.fromstring(site.client.get("/status/public/feed.atom").content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in atom.findall("a:entry", ns)]
    assert titles == ["[resolved] Slow logins"]
    rss = ET.fromstring(site.client.get("/status/public/feed.rss").content)
    assert rss.findtext("channel/item/title") == "[resolved] Slow logins"
    bad = site.client.post("/status/public/manage/incidents", headers=EDITOR,
                           data={"title": "", "message": "x"})
    assert bad.status_code == 400 and "needs a title" in bad.text


def test_maintenance_through_json_mutes_marks_and_shows(site: Site) -> None:
    start = int(site.now) - 60
    r = site.client.post("/status/public/manage/maintenance", headers=EDITOR, json={
        "title": "Database upgrade", "description": "PostgreSQL 16", "start": start, "end": start + 3600,
        "probes": ["api"]})
    assert r.status_code == 200, r.text
    m = r.json()["data"]
    [sil] = site.silences.all()
    assert sil.id == m["silence_id"] and sil.mutes(Labels({"alertname": "ProbeDown", "job": "api"}))
    page = site.client.get("/status/public").text
    assert "Database upgrade" in page and "in progress" in page
    assert "Maintenance" in page.split('id="monitor-api"')[1].split("</div>")[0]
    badge = site.client.get("/status/public/badge/api/status.svg").text
    assert "maintenance" in badge
    bad = site.client.post("/status/public/manage/maintenance", headers=EDITOR,
                           json={"title": "x", "start": start, "end": start + 60, "probes": ["db"]})
    assert bad.status_code == 400 and "not on this page: db" in bad.json()["error"]
    site.client.post(f"/status/public/manage/maintenance/{m['id']}/cancel", headers=EDITOR)
    assert site.silences.get(m["silence_id"]).state(time.time_ns()) == "expired"


class _Hook(http.server.BaseHTTPRequestHandler):
    got: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.got.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


def test_webhook_subscribers_hear_about_incidents(site: Site) -> None:
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        r = site.client.post("/status/public/subscribe", data={"kind": "webhook", "address": url})
        assert r.status_code == 200 and "Subscribed" in r.text
        no = site.client.post("/status/public/subscribe", data={"kind": "email", "address": "a@b.c"})
        assert no.status_code == 400 and "does not send email" in no.text
        site.client.post("/status/public/manage/incidents", headers=EDITOR,
                         data={"title": "API errors", "message": "Elevated 5xx."})
        deadline = time.time() + 5
        while not _Hook.got and time.time() < deadline:
            asyncio.run(asyncio.sleep(0.05))
        [event] = _Hook.got
        assert event["event"] == "incident.opened" and event["incident"]["title"] == "API errors"
        assert event["url"] == "http://status.example.com/status/public"
    finally:
        srv.shutdown()


def test_a_service_is_a_scrape_job_shown_from_its_up_series(site: Site) -> None:
    html = site.client.get("/status/public").text
    row = html.split('id="service-checkout"')[1].split('<div class="monitor"')[0]
    assert "Operational" in row and "98.9" in row  # one bad day of 90 in the stored up series
    storage = site.service.storage
    assert isinstance(storage, MemoryStorage)
    storage.add_series(Labels({"__name__": "up", "job": "checkout", "instance": "x"}),
                       [int(time.time() * 1000)], [0.0])
    html = site.client.get("/status/public").text
    assert "Down" in html.split('id="service-checkout"')[1].split("</span></span>")[0]
    assert "Partial outage" in html
