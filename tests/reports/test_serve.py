"""Scheduled reports inside `guardia serve`: the reloader, the API, the UI list and the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerting.sinks import HTTPSink
from tests.test_serve import Serve

CONFIG = """
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: guardia
    static_configs: [{{targets: ['{self}']}}]
alertmanager:
  route: {{receiver: ops}}
  receivers:
    - name: ops
      webhook_configs: [{{url: '{sink}/hook'}}]
reports:
  schedules:
    - name: daily
      schedule: "0 7 * * *"
      window: 1h
      baseline: 1h
      receivers: [ops]
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serve, str]]:
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    sink = loop.run_until_complete(HTTPSink().start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cfg = tmp_path / "guardia.yml"
    s = Serve(tmp_path, "--config.file", str(cfg))
    cfg.write_text(CONFIG.format(self=f"127.0.0.1:{s.port}", sink=sink.url))
    try:
        s.wait_ready()
        yield s, sink.url
    finally:
        if s.proc.poll() is None:
            s.stop()
        loop.call_soon_threadsafe(loop.stop)


def test_run_a_scheduled_report_and_find_it_in_the_api_and_the_ui(served: tuple[Serve, str]) -> None:
    s, _ = served
    s.wait_up("guardia")
    listing = s.http.get("/api/v1/reports").json()["data"]
    assert [x["name"] for x in listing["schedules"]] == ["daily"]
    assert listing["schedules"][0]["schedule"] == "0 7 * * *" and listing["reports"] == []
    assert s.http.get("/reports").status_code == 200

    r = s.http.post("/api/v1/reports/daily/run", timeout=60)
    assert r.status_code == 200, r.text
    entry = r.json()["data"]
    assert entry["schedule"] == "daily"
    assert [(d["receiver"], d["ok"]) for d in entry["deliveries"]] == [("ops", True)]

    doc = s.http.get(f"/api/v1/reports/{entry['id']}").json()
    assert doc["score"]["formula"] and any(f["name"] == "availability" for f in doc["figures"])
    page = s.http.get("/reports")
    assert f'data-report="{entry["id"]}"' in page.text and "Reports" in page.text
    html = s.http.get(f"/reports/{entry['id']}")
    assert html.status_code == 200 and "<svg" in html.text and "<script" not in html.text
    md = s.http.get(f"/reports/{entry['id']}", params={"format": "md"})
    assert md.text.startswith("# Operations report: daily")

    assert s.http.get("/api/v1/reports/nope").json()["errorType"] == "not_found"
    bad = s.http.post("/api/v1/reports/weekly/run").json()
    assert bad["errorType"] == "not_found" and "known: daily" in bad["error"]
    assert s.http.get("/reports/nope").status_code == 404


def test_a_bad_reports_section_on_reload_keeps_the_old_one(served: tuple[Serve, str], tmp_path: Path) -> None:
    s, _ = served
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(cfg.read_text().replace('schedule: "0 7 * * *"', 'schedule: "every day"'))
    r = s.http.post("/-/reload")
    assert r.status_code != 200
    assert "reports.schedules[0].schedule: 'every day'" in r.text
    assert s.http.get("/api/v1/reports").json()["data"]["schedules"][0]["schedule"] == "0 7 * * *"
