"""examples/grupo-gad/app under a real uvicorn, scraped by a real guardia: its rules (seed 000's,
rewritten) and the ones `guardia init app` writes read no metric the app does not expose."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets
import yaml

from tests.instrument.servers import REPO, free_port, server, wait_up

APP_DIR = REPO / "examples" / "grupo-gad" / "app"


def _guardia(tmp: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "guardia.cli.main", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_rules_url_reports_no_orphans_against_guardia_scraping_the_app(tmp_path: Path) -> None:
    app_port, guardia_port = free_port(), free_port()
    argv = [sys.executable, "-m", "uvicorn", "main:app", "--app-dir", str(APP_DIR),
            "--host", "127.0.0.1", "--port", str(app_port), "--log-level", "warning"]
    with server(argv, app_port, tmp_path, env={"ENVIRONMENT": "production"}):
        base = f"http://127.0.0.1:{app_port}"
        assert httpx.get(base + "/api/v1/tasks/1").status_code == 200
        assert httpx.get(base + "/api/v1/simulate-error").status_code == 500

        async def chat() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{app_port}/ws/connect") as ws:
                await ws.send("ping")
                assert await ws.recv() == "pong"

        asyncio.run(chat())
        # guardia, with the example's scrape job pointed at this app, and init app's rules beside
        config = yaml.safe_load((APP_DIR / "prometheus.yml").read_text())
        config["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{app_port}"]
        config["scrape_configs"][0]["scrape_interval"] = "1s"
        config["rule_files"] = [str(APP_DIR / "alerts.yml")]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        out = _guardia(tmp_path, "init", "app", "--framework", "fastapi", "--websocket-prefix", "ggrt_",
                       "--dir", "generated")
        assert out.returncode == 0, out.stderr
        gargv = [sys.executable, "-m", "guardia.cli.main", "serve",
                 "--config", str(tmp_path / "prometheus.yml"),
                 "--web.listen-address", f"127.0.0.1:{guardia_port}",
                 "--storage.tsdb.path", str(tmp_path / "data")]
        (tmp_path / "g").mkdir()
        with server(gargv, guardia_port, tmp_path / "g", ready_path="/-/ready") as proc:
            url = f"http://127.0.0.1:{guardia_port}"
            wait_up(url + "/-/ready", proc)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = httpx.get(url + "/api/v1/query",
                              params={"query": 'http_requests_total{job="api",status="5xx"}'}).json()
                if r["data"]["result"]:
                    break
                time.sleep(0.3)
            else:
                raise AssertionError("guardia never scraped the app")
            got = {}
            for rules in (APP_DIR / "alerts.yml", tmp_path / "generated" / "rules" / "api-alerts.yml"):
                got[rules.name] = _guardia(tmp_path, "check", "rules", str(rules), "--url", url)
            for name, res in got.items():
                assert res.returncode == 0, (name, res.stdout, res.stderr)
                assert "SUCCESS" in res.stdout
            # and the seed's original rules still name their orphans
            orig = _guardia(tmp_path, "check", "rules", str(APP_DIR.parent / "alerts.yml"), "--url", url)
            assert orig.returncode == 1
            assert "websocket_connections_active" in orig.stderr
            assert "ggrt_active_connections" in orig.stderr  # suggested as the similar exposed name
