"""amtool (Debian's, the real client) against guardia's Alertmanager API v2 over uvicorn."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from guardia.alerting import Alertmanager
from guardia.config import parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.web.alertmanager_api import routes

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1h
  routes:
    - matchers: [team=db]
      receiver: dba
receivers:
  - name: default
  - name: dba
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Alertmanager]]:
    cfg = parse_alertmanager_config(parse_yaml(CONFIG, "am.yml"))
    am = Alertmanager(cfg, data_dir=tmp_path)
    await am.start()
    app = Starlette(routes=routes(am))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", am
    srv.should_exit = True
    await task
    await am.stop()


async def amtool(url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        AMTOOL, f"--alertmanager.url={url}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_silence_add_query_expire(server: tuple[str, Alertmanager]) -> None:
    url, am = server
    rc, out, err = await amtool(url, "silence", "add", "alertname=DiskFull", 'instance=~"db-.*"',
                                "--comment=disk swap", "--author=ops", "--duration=2h")
    assert rc == 0, err
    sid = out.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", sid)
    rc, out, err = await amtool(url, "silence", "query")
    assert rc == 0, err
    header, row = out.strip().splitlines()
    assert header.split() == ["ID", "Matchers", "Ends", "At", "Created", "By", "Comment"]
    assert row.startswith(sid) and 'alertname="DiskFull"' in row and 'instance=~"db-.*"' in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+ops\s+disk swap$", row.rstrip()), row
    rc, out, _ = await amtool(url, "silence", "query", "-q", "alertname=DiskFull")
    assert out.split() == [sid]
    rc, out, _ = await amtool(url, "silence", "query", "-q", "alertname=Other")
    assert out.split() == []
    rc, out, err = await amtool(url, "silence", "expire", sid)
    assert rc == 0, err
    rc, out, _ = await amtool(url, "silence", "query", "-q")
    assert out.split() == []
    rc, out, _ = await amtool(url, "silence", "query", "-q", "--expired")
    assert out.split() == [sid]
    assert am.silences.get(sid).state(am.clock()) == "expired"


async def test_alert_add_and_query(server: tuple[str, Alertmanager]) -> None:
    url, _ = server
    rc, _, err = await amtool(url, "alert", "add", "alertname=DBDown", "team=db", "instance=db1",
                              "--annotation=summary=primary database down")
    assert rc == 0, err
    rc, _, err = await amtool(url, "alert", "add", "alertname=HighCPU", "instance=web1")
    assert rc == 0, err
    rc, out, err = await amtool(url, "alert", "query")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["Alertname", "Starts", "At", "Summary", "State"]
    rows = sorted(lines[1:])
    assert rows[0].startswith("DBDown") and "primary database down" in rows[0] and "active" in rows[0]
    assert rows[1].startswith("HighCPU")
    rc, out, _ = await amtool(url, "alert", "query", "team=db", "-o", "json")
    data = json.loads(out)
    assert [a["labels"]["alertname"] for a in data] == ["DBDown"]
    assert data[0]["receivers"] == [{"name": "dba"}]
    rc, out, _ = await amtool(url, "silence", "add", "alertname=HighCPU", "--comment=x", "--author=me")
    rc, out, _ = await amtool(url, "alert", "query", "--silenced")
    assert "HighCPU" in out and "suppressed" in out and "DBDown" not in out


async def test_config_show_and_routes(server: tuple[str, Alertmanager]) -> None:
    url, _ = server
    rc, out, err = await amtool(url, "config", "show")
    assert rc == 0, err
    assert "receiver: default" in out
    rc, out, err = await amtool(url, "config", "routes", "test", "team=db")
    assert rc == 0, err
    assert out.strip() == "dba"


async def test_api_errors_are_json_strings(server: tuple[str, Alertmanager]) -> None:
    url, _ = server
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/v2/alerts", json=[{"labels": {}}])
        assert r.status_code == 400 and "at least one label pair required" in r.json()
        r = await c.get("/api/v2/silence/nope")
        assert r.status_code == 404
        everything = [{"name": "a", "value": ".*", "isRegex": True}]
        r = await c.post("/api/v2/silences", json={"matchers": everything, "startsAt": "2030-01-01T00:00:00Z",
                                                   "endsAt": "2030-01-01T01:00:00Z",
                                                   "createdBy": "x", "comment": "y"})
        assert r.status_code == 400 and "must not match the empty string" in r.json()
        r = await c.get("/api/v2/alerts", params={"filter": "bad"})
        assert r.status_code == 400 and "bad matcher format" in r.json()
        r = await c.get("/api/v2/receivers")
        assert r.json() == [{"name": "default"}, {"name": "dba"}]


async def test_groups_and_status_shapes(server: tuple[str, Alertmanager]) -> None:
    url, _ = server
    async with httpx.AsyncClient(base_url=url) as c:
        alerts = [{"labels": {"alertname": "DBDown", "team": "db", "instance": i}} for i in ("db1", "db2")]
        assert (await c.post("/api/v2/alerts", json=alerts)).status_code == 200
        groups = (await c.get("/api/v2/alerts/groups")).json()
        (g,) = groups
        assert g["labels"] == {"alertname": "DBDown"} and g["receiver"] == {"name": "dba"}
        assert sorted(a["labels"]["instance"] for a in g["alerts"]) == ["db1", "db2"]
        a = g["alerts"][0]
        assert set(a) == {"annotations", "endsAt", "fingerprint", "receivers", "startsAt", "status",
                          "updatedAt", "generatorURL", "labels"}
        assert a["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
        assert (await c.get("/api/v2/alerts/groups", params={"receiver": "default"})).json() == []
        st = (await c.get("/api/v2/status")).json()
        assert st["cluster"]["status"] == "disabled" and "route:" in st["config"]["original"]
        assert set(st["versionInfo"]) >= {"version", "revision", "branch", "buildUser", "buildDate",
                                          "goVersion"}
