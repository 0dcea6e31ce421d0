"""Saving dashboards the way Grafana does, its HTTP API paths, provisioning folders, the
``web.dashboards`` config section and ``guardia dashboards import`` errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from guardia.config.errors import ConfigError
from guardia.config.loader import load_config
from guardia.web.ui.dashboards import grafana_api
from guardia.web.ui.dashboards.store import DashboardStore, SaveError
from tests.web.ui.conftest import DASHBOARDS, REPO

SIMPLE = {"title": "Simple", "panels": [{"id": 1, "type": "stat", "targets": [{"expr": "up"}]}]}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    store = DashboardStore(tmp_path / "dashboards")
    return TestClient(Starlette(routes=grafana_api.routes(store)))


def test_post_get_search_delete_like_grafana(client: TestClient) -> None:
    r = client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "simple", "tags": ["t"]},
                                                "overwrite": False, "folderUid": "team"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "success" and body["uid"] == "simple" and body["version"] == 1
    assert body["url"] == "/d/simple/simple" and isinstance(body["id"], int)
    got = client.get("/api/dashboards/uid/simple").json()
    assert got["dashboard"]["title"] == "Simple" and got["dashboard"]["version"] == 1
    assert got["meta"]["folderUid"] == "team" and got["meta"]["provisioned"] is False
    hits = client.get("/api/search", params={"query": "simp", "tag": "t"}).json()
    assert [(h["uid"], h["type"], h["url"]) for h in hits] == [("simple", "dash-db", "/d/simple/simple")]
    assert any(h["uid"] == "guardia-api" for h in client.get("/api/search").json())  # built-ins listed
    folders = client.get("/api/search", params={"type": "dash-folder"}).json()
    assert [f["title"] for f in folders] == ["guardia", "team"]
    assert client.delete("/api/dashboards/uid/simple").status_code == 200
    assert client.get("/api/dashboards/uid/simple").status_code == 404


def test_stale_version_and_taken_title_are_refused_unless_overwrite(client: TestClient) -> None:
    client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "s1"}})
    r = client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "s1", "version": 0}})
    assert (r.status_code, r.json()["status"]) == (412, "version-mismatch")
    r = client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "s1", "version": 1}})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "s2"}})
    assert (r.status_code, r.json()["status"]) == (412, "name-exists")
    r = client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "s1"}, "overwrite": True})
    assert r.status_code == 200 and r.json()["version"] == 3


def test_bad_requests_say_what_is_wrong(client: TestClient) -> None:
    assert client.post("/api/dashboards/db", content=b"{").status_code == 400
    r = client.post("/api/dashboards/db", json={"title": "no wrapper"})
    assert r.status_code == 400 and '{"dashboard"' in r.json()["message"]
    r = client.post("/api/dashboards/db", json={"dashboard": {"panels": [{"id": 1}]}})
    assert r.status_code == 400 and "title: is missing" in r.json()["message"]
    r = client.post("/api/dashboards/db", json={"dashboard": {**SIMPLE, "uid": "guardia-api"}})
    assert r.status_code == 400 and "provisioned" in r.json()["message"]


def test_saved_dashboards_survive_a_restart(tmp_path: Path) -> None:
    s = DashboardStore(tmp_path)
    uid = s.save(SIMPLE).uid  # no uid: one is made up, as Grafana does
    again = DashboardStore(tmp_path).get(uid)
    assert again is not None and again.dashboard.title == "Simple" and again.dashboard.version == 1


def test_provisioning_loads_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    folder = tmp_path / "prov"
    (folder / "team").mkdir(parents=True)
    (folder / "team" / "legacy.json").write_text((DASHBOARDS / "legacy-rows.json").read_text())
    (folder / "nouid.yml").write_text("title: No uid\npanels: []\n")
    (folder / "broken.json").write_text('{"title": ')
    s = DashboardStore(None, builtin=False)
    errors = s.provision([folder, tmp_path / "missing"])
    assert any("broken.json: not valid JSON" in e for e in errors)
    assert any("missing: dashboard provisioning folder does not exist" in e for e in errors)
    assert {(d.uid, d.folder, d.source) for d in s.all()} == {("ui-legacy", "team", "provisioned"),
                                                              ("nouid", "", "provisioned")}
    with pytest.raises(SaveError):
        s.save({**SIMPLE, "uid": "ui-legacy"})


def test_web_dashboards_config_is_checked_with_its_position(tmp_path: Path) -> None:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text("scrape_configs: []\nweb:\n  dashboards:\n    provisioning: [1]\n    colour: blue\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg))
    text = str(e.value)
    assert "guardia.yml:4" in text and "each provisioning entry must be a folder path" in text
    assert "unknown field 'colour' in web.dashboards" in text
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "x.json").write_text(json.dumps({**SIMPLE, "uid": "x"}))
    cfg.write_text("scrape_configs: []\nweb:\n  dashboards:\n    provisioning: boards\n    builtin: false\n")
    s = DashboardStore(None)
    s.apply_config(load_config(str(cfg)))
    assert [d.uid for d in s.all()] == ["x"]


def test_cli_import_reports_a_bad_file_and_sends_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "x", "panels": [{"id": 1, "title": "t"}]}))
    out = subprocess.run(
        [sys.executable, "-m", "guardia.cli.main", "dashboards", "import", "--url", "http://127.0.0.1:9",
         str(bad)],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "bad.json: not imported:" in out.stderr and "panels[0].type: is missing" in out.stderr


def test_grafana_tools_push_and_read_dashboards(tmp_path: Path) -> None:
    """grafanalib builds a dashboard, grafana-client pushes it through Grafana's API paths."""
    import threading

    import uvicorn
    from grafana_client import GrafanaApi
    from grafanalib import core as g
    from grafanalib._gen import DashboardEncoder

    from tests.web.ui.conftest import free_port

    store = DashboardStore(tmp_path / "dashboards")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=grafana_api.routes(store)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.02)
        board = g.Dashboard(
            title="Built with grafanalib", uid="from-grafanalib", tags=["generated"],
            panels=[
                g.TimeSeries(title="Requests", gridPos=g.GridPos(h=8, w=12, x=0, y=0), unit="reqps",
                             targets=[g.Target(expr="sum(rate(http_requests_total[$__rate_interval]))",
                                               legendFormat="all", refId="A")]),
                g.Stat(title="Up", gridPos=g.GridPos(h=4, w=6, x=12, y=0),
                       targets=[g.Target(expr="sum(up)", refId="A")]),
            ],
        ).auto_panel_ids()
        payload = json.loads(json.dumps({"dashboard": board.to_json_data(), "overwrite": True},
                                        cls=DashboardEncoder))
        api = GrafanaApi(auth=None, host="127.0.0.1", port=port)
        answer = api.dashboard.update_dashboard(payload)
        assert answer["status"] == "success" and answer["uid"] == "from-grafanalib"
        got = api.dashboard.get_dashboard("from-grafanalib")
        assert got["dashboard"]["title"] == "Built with grafanalib"
        assert [h["uid"] for h in api.search.search_dashboards(query="grafanalib")] == ["from-grafanalib"]
        stored = store.get("from-grafanalib")
        assert stored is not None
        panels = [(p.type, p.unit) for p in stored.dashboard.panels()]
        assert panels == [("timeseries", "reqps"), ("stat", "none")]
        api.dashboard.delete_dashboard("from-grafanalib")
        assert store.get("from-grafanalib") is None
    finally:
        server.should_exit = True
        thread.join(5)
