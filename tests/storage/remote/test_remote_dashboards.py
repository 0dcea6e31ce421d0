"""Dashboards over a remote engine: a panel, a variable or a ``$datasource`` whose Grafana
``datasource`` names a ``remote_read`` entry reads Debian's VictoriaMetrics, holding data this
guardia never stored; the same panel without it reads guardia's own store (nothing there)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.storage.remote.peers import Proc, flush_victoria, guardia, victoria

ROOMS = ("kitchen", "lab", "office")


def _dashboard() -> dict[str, object]:
    central = {"type": "prometheus", "uid": "central"}
    return {
        "uid": "remote-temps", "title": "Central temperatures", "schemaVersion": 39,
        "templating": {"list": [
            {"name": "room", "type": "query", "datasource": central,
             "query": "label_values(site_temperature_celsius, room)", "multi": True, "includeAll": True},
            {"name": "ds", "type": "datasource", "query": "prometheus"},
        ]},
        "panels": [
            {"id": 1, "type": "timeseries", "title": "remote", "datasource": central,
             "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
             "targets": [{"refId": "A", "expr": 'site_temperature_celsius{room=~"$room"}',
                          "legendFormat": "{{room}}"}]},
            {"id": 2, "type": "timeseries", "title": "local", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8},
             "targets": [{"refId": "A", "expr": "site_temperature_celsius"}]},
            {"id": 3, "type": "stat", "title": "by variable", "datasource": {"uid": "${ds}"},
             "gridPos": {"x": 0, "y": 8, "w": 12, "h": 8},
             "targets": [{"refId": "A", "expr": "sum(site_temperature_celsius)", "instant": True}]},
        ],
    }


def test_a_dashboard_reads_a_remote_engine_named_by_its_datasource(tmp_path: Path, procs: list[Proc]) -> None:
    vm = victoria(tmp_path)
    procs.append(vm.start())
    now = int(time.time()) // 60 * 60
    lines = [f'site_temperature_celsius{{room="{r}",site="b"}} {20 + i + k / 10} '
             f'{(now - 600 + 60 * k) * 1000}' for i, r in enumerate(ROOMS) for k in range(11)]
    vm.http.post("/api/v1/import/prometheus", content="\n".join(lines)).raise_for_status()
    flush_victoria(vm)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(f"remote_read:\n  - name: central\n    url: {vm.url}/api/v1/read\n")
    g = guardia(tmp_path, cfg)
    procs.append(g.start())
    r = g.http.post("/api/ui/dashboards/import", params={"filename": "d.json"},
                    content=json.dumps(_dashboard()))
    assert r.status_code == 200, r.text
    span = {"from": str((now - 600) * 1000), "to": str(now * 1000), "now": str(now * 1000)}

    remote = g.http.get("/api/ui/dashboards/remote-temps/panels/1", params=span).json()
    assert remote["state"] == "ok" and remote["sources"] == ["central"], remote
    by_room = {s["name"]: s["values"] for s in remote["series"]}
    assert sorted(by_room) == list(ROOMS)  # the variable's options came from VictoriaMetrics too
    want = {(now - 600 + 60 * k): 21 + k / 10 for k in range(11)}
    got = {round(t): v for t, v in by_room["lab"] if v is not None}
    assert {t: v for t, v in got.items() if t in want} == {t: want[t] for t in got if t in want}
    assert len(set(got) & set(want)) >= 10

    local = g.http.get("/api/ui/dashboards/remote-temps/panels/2", params=span).json()
    assert local["state"] == "nodata" and local["sources"] == ["guardia"]
    assert local["missing"] == ["site_temperature_celsius"]

    chosen = g.http.get("/api/ui/dashboards/remote-temps/panels/3",
                        params={**span, "var-ds": "central"}).json()
    assert chosen["state"] == "ok" and chosen["sources"] == ["central"]
    assert chosen["series"][0]["values"][0][1] == pytest.approx(21 + 22 + 23, abs=1e-9)
    default = g.http.get("/api/ui/dashboards/remote-temps/panels/3", params=span).json()
    assert default["sources"] == ["guardia"]  # the variable's first option is guardia itself
    page = g.http.get("/d/remote-temps", params={"var-ds": "central"}).text
    assert "central" in page

    # an engine that refuses the query: the panel says so, with the engine's reason
    bad = _dashboard()
    bad["uid"], bad["title"] = "remote-bad", "Refused"
    bad["panels"][0]["targets"][0]["expr"] = "sum(site_temperature_celsius"  # type: ignore[index]
    r = g.http.post("/api/ui/dashboards/import", params={"filename": "b.json"}, content=json.dumps(bad))
    assert r.status_code == 200, r.text
    err = g.http.get("/api/ui/dashboards/remote-bad/panels/1", params=span).json()
    assert err["state"] == "error" and "central" in err["error"], err
