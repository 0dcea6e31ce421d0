"""A scheduled report with ``source:`` naming a ``remote_read`` entry reads Debian's
VictoriaMetrics (data this guardia never stored) through the entry's client, and gives the
figures the same report gives reading VictoriaMetrics directly; an unknown source is refused
at load naming the field."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from guardia.reports.build import ReportRequest, build_report
from guardia.reports.render import render
from guardia.reports.source import HttpSource
from tests.storage.remote.peers import Proc, flush_victoria, guardia, victoria

CONFIG = """
remote_read:
  - name: central
    url: {vm}/api/v1/read
reports:
  schedules:
    - name: shop-hourly
      schedule: "0 * * * *"
      window: 1h
      baseline: 1h
      service: shop
      source: {source}
"""


def _figures(doc: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(f["name"], json.dumps(f.get("labels"), sort_keys=True)): f.get("value") for f in doc["figures"]}


def test_a_scheduled_report_reads_the_remote_engine(tmp_path: Path, procs: list[Proc]) -> None:
    vm = victoria(tmp_path)
    procs.append(vm.start())
    now = int(time.time()) // 15 * 15
    lines = []
    for k in range(2 * 240 + 1):  # 2 h every 15 s: 1 request/s served, 0.1/s failing
        t = now - 7200 + 15 * k
        lines.append(f'http_requests_total{{job="shop",code="200"}} {15 * k} {t * 1000}')
        lines.append(f'http_requests_total{{job="shop",code="500"}} {1.5 * k} {t * 1000}')
        lines.append(f'up{{job="shop",instance="shop:8000"}} 1 {t * 1000}')
    vm.http.post("/api/v1/import/prometheus", content="\n".join(lines)).raise_for_status()
    flush_victoria(vm)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.format(vm=vm.url, source="central"))
    g = guardia(tmp_path, cfg)
    procs.append(g.start())
    r = g.http.post("/api/v1/reports/shop-hourly/run", timeout=120)
    assert r.status_code == 200, r.text
    doc = g.http.get(f"/api/v1/reports/{r.json()['data']['id']}").json()
    mine = _figures(doc)
    # the same report reading VictoriaMetrics directly, at the same end
    end_ms = round(doc["window"]["end"] * 1000)
    direct = build_report(HttpSource(vm.url), ReportRequest(3_600_000, 3_600_000, end_ms, "shop"))
    theirs = _figures(json.loads(render(direct, "json")))
    assert mine.keys() == theirs.keys()
    compared = [k for k, v in theirs.items() if isinstance(v, int | float)]
    assert len(compared) >= 4, theirs
    for k in compared:
        assert mine[k] == pytest.approx(theirs[k], rel=1e-9), k
    rates = [v for (name, _), v in mine.items() if name == "request_rate"]
    assert rates and rates[0] == pytest.approx(1.1, rel=0.05)  # 1/s served + 0.1/s failing
    assert doc["source"].startswith("remote_read central")

    # a source naming no remote_read entry: the reload is refused, naming the field
    cfg.write_text(CONFIG.format(vm=vm.url, source="nowhere"))
    bad = g.http.post("/-/reload")
    assert bad.status_code != 200 and "reports.schedules[0].source: 'nowhere'" in bad.text
