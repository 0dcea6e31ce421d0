"""`guardia init app`: the lines it prints, the files it writes, and that every rule and panel in
them reads metrics the instrumented app really exposes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI, WebSocket
from prometheus_client import CollectorRegistry, ProcessCollector

from guardia.instrument import instrument
from guardia.instrument.artifacts import AppSpec, alert_rules, dashboard
from guardia.rules.check import check_file, metric_names
from guardia.web.ui.dashboards.model import parse_dashboard
from tests.instrument.asgi_driver import run, samples
from tests.instrument.test_django import drive

REPO = Path(__file__).resolve().parents[2]


def init(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "guardia.cli.main", "init", "app", *args],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=120)


def exprs(spec: AppSpec) -> list[str]:
    """Every PromQL expression the rules and the dashboard hold, dashboard variables filled in."""
    out = [r["expr"] for g in alert_rules(spec)["groups"] for r in g["rules"]]
    for p in dashboard(spec)["panels"]:
        out += [t["expr"].replace("$__rate_interval", "1m").replace("$job", spec.job)
                for t in p["targets"]]
    return out


def read_names(spec: AppSpec) -> set[str]:
    names: set[str] = set()
    for e in exprs(spec):
        got, patterns = metric_names(e)
        assert not patterns
        names |= got
    return names - {"up"}


def test_fastapi_prints_two_lines_and_writes_checked_files(tmp_path: Path) -> None:
    out = init(tmp_path, "--framework", "fastapi", "--websocket-prefix", "ggrt_", "--dir", "mon")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["from guardia.instrument import instrument",
                                       'instrument(app, websocket_prefix="ggrt_")']
    mon = tmp_path / "mon"
    rules = mon / "rules" / "api-alerts.yml"
    report = check_file(str(rules))
    assert not report.errors and report.rules == 7
    names = {r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]}
    assert {"HighErrorRate", "HighLatencyP95", "WebSocketSaturation"} <= names
    parse_dashboard(json.loads((mon / "dashboards" / "api.json").read_text()))
    prom = yaml.safe_load((mon / "prometheus.yml").read_text())
    assert prom["rule_files"] == ["rules/api-alerts.yml"]
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    if shutil.which("promtool"):
        for args in (["check", "rules", str(rules)], ["check", "config", str(mon / "prometheus.yml")]):
            p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stdout + p.stderr
    again = init(tmp_path, "--framework", "fastapi", "--dir", "mon")
    assert again.returncode == 1 and "use --force" in again.stderr
    assert init(tmp_path, "--framework", "fastapi", "--dir", "mon", "--force").returncode == 0


@pytest.mark.parametrize("args, words", [
    (["--framework", "flask"], "--framework 'flask': use one of fastapi, django"),
    (["--framework", "django", "--target", "localhost"], "--target 'localhost': give host:port"),
    (["--framework", "fastapi", "--naming", "otel"], "--naming 'otel'"),
])
def test_bad_options_say_what_to_use(tmp_path: Path, args: list[str], words: str) -> None:
    out = init(tmp_path, *args)
    assert out.returncode == 1 and words in out.stderr, out.stderr
    assert not any(tmp_path.iterdir())


def _exposed(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


def test_fastapi_rules_and_panels_read_only_exposed_metrics() -> None:
    for naming in ("instrumentator", "django"):
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # what the default registry has
        app = FastAPI()

        @app.get("/work/{n}")
        def work(n: int) -> int:
            return n

        @app.websocket("/ws")
        async def ws(socket: WebSocket) -> None:
            await socket.close()

        instrument(app, naming=naming, registry=registry)  # type: ignore[arg-type]
        run(app, "GET", "/work/1")
        exposed = _exposed(run(app, "GET", "/metrics")[1].decode())
        missing = read_names(AppSpec("fastapi", naming=naming)) - exposed
        assert not missing, (naming, missing)


def test_django_rules_and_panels_read_only_exposed_metrics() -> None:
    for naming in ("instrumentator", "django"):
        rc, text, err = drive("" if naming == "instrumentator" else "django")
        assert rc == 0, err
        # process_* per worker come from multiprocess mode; a lone Django process has its own
        exposed = _exposed(text)
        missing = read_names(AppSpec("django", naming=naming)) - exposed
        assert not missing, (naming, missing)


def test_the_dashboard_model_round_trips() -> None:
    for spec in (AppSpec("fastapi"), AppSpec("django", naming="django")):
        d: dict[str, Any] = dashboard(spec)
        parsed = parse_dashboard(d)
        assert parsed.title
