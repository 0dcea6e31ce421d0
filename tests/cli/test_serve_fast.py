"""`guardia serve FLAGS...` without typer: the same options as the typer command, typer for the rest.

A plain serve command line is read by ``guardia.cli.serve_run`` so the long-lived server does not
keep typer, rich, pygments and pydantic resident; these tests hold that reader to the typer
command's reading, and the server process to not importing them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import guardia.cli.serve
from guardia.cli.main import build_app
from guardia.cli.serve_run import FLAGS, fast_serve, options, parse_args
from guardia.server import ServeOptions

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("args", [
    [],
    ["--config", "p.yml", "--storage.tsdb.path", "/tmp/x", "--web.listen-address=0.0.0.0:9999"],
    ["--config.file=p.yml", "--storage.tsdb.retention.time", "30d", "--storage.tsdb.retention.size", "10GB"],
    ["--agent", "--storage.agent.path", "a", "--config", "c.yml", "--log.level", "warn"],
    ["--query.max-samples", "1000", "--query.timeout=10s", "--query.lookback-delta", "1m",
     "--web.enable-admin-api", "--web.external-url", "http://h:1/prefix", "--web.config.file", "w.yml"],
    ["--rules.alert.for-outage-tolerance", "2h", "--rules.alert.for-grace-period=1m",
     "--storage.remote.wal-keep-size", "0", "--config", "first.yml", "--config", "last.yml"],
    ["--enable-feature=promql-delayed-name-removal,native-histograms"],
])
def test_the_same_options_as_the_typer_command(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServeOptions] = []

    def record(opts: ServeOptions, log_level: str) -> int:
        seen.append(opts)
        return 0

    monkeypatch.setattr(guardia.cli.serve, "run", record)
    result = CliRunner().invoke(build_app("serve"), ["serve", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    values = parse_args(args)
    assert values is not None and seen == [options(values)]


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["--bogus"], ["--config"], ["--agent=true"], ["--query.max-samples", "many"],
    ["extra"], ["--log.level", "loud"], ["--storage.tsdb.retention.time", "3x"],
    ["--web.listen-address", "nohostport"], ["--storage.tsdb.retention.size", "10 parsecs"],
])
def test_help_unknown_flags_and_bad_values_are_left_to_typer(args: list[str]) -> None:
    assert fast_serve(args) is None


def test_the_flag_table_is_the_typer_command() -> None:
    import typer.main

    root = typer.main.get_command(build_app("serve"))
    cmd = root.commands["serve"]  # type: ignore[attr-defined]
    got = {p.name: (tuple(p.opts), p.default, p.help) for p in cmd.params}
    assert got == {f.param: (f.names, f.default, f.help) for f in FLAGS}


def test_a_bad_value_gets_typer_s_message(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "guardia.cli.main", "serve", "--log.level", "loud"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.returncode == 2
    assert "--log.level must be one of debug, info, warn, error" in out.stderr


def test_a_full_server_keeps_only_what_it_runs(tmp_path: Path) -> None:
    """A real ``guardia serve`` (no TLS, no OIDC), once ready and answering: no CLI libraries
    (typer, rich, pygments, pydantic) and no cryptography, which only certificates need.
    Nor what only an unused feature needs (#28, resident memory): jinja2 before a page is
    rendered, cramjam without remote write or Loki pushes, sqlite3 without SQL checks, dnslib
    without DNS probes, bcrypt without basic-auth users, protobuf and OpenTelemetry's messages
    without a remote write or OTLP request, httpx without an outgoing request that needs it,
    uvicorn's command line (click) and worker supervisors (multiprocessing) ever."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "p.yml").write_text("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: self\n"
                                    f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "guardia.cli.main", "serve", "--config", "p.yml",
             "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.path", "d"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up"}, timeout=5)
                if r.status_code == 200 and r.json()["data"]["result"]:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        before_a_page = log.read_text()  # scraped and answered a query, no page rendered yet
        assert httpx.get(f"http://127.0.0.1:{port}/readiness", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)

    def imports(text: str) -> set[str]:
        return {line.rsplit("|", 1)[1].strip() for line in text.splitlines()
                if line.startswith("import time:") and "|" in line}

    imported = imports(log.read_text())
    assert "guardia.storage.tsdb.db" in imported and "guardia.audit.access" in imported
    never = {"typer", "rich", "pygments", "pydantic", "cryptography",
             "cramjam", "sqlite3", "dnslib", "bcrypt", "google", "opentelemetry", "httpx",
             "click", "multiprocessing"}
    assert sorted(m for m in imported if m.split(".")[0] in never) == []
    assert "jinja2" not in imports(before_a_page) and "jinja2" in imported  # with the first page


def test_the_live_log_tail_loads_its_websocket_library_with_the_first_websocket(tmp_path: Path) -> None:
    """A real ``guardia serve`` imports uvicorn's WebSocket protocol (and websockets) only when
    the first WebSocket comes (#28, resident memory); that WebSocket, the live log tail, works:
    a line pushed after it opened comes through it."""
    import asyncio
    import json
    import socket
    import time

    import httpx
    from websockets.asyncio.client import connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "p.yml").write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "guardia.cli.main", "serve", "--config", "p.yml",
             "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.path", "d"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})

    def imported() -> set[str]:
        return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in log.read_text().splitlines()
                if line.startswith("import time:") and "|" in line}

    async def tail() -> dict[str, object]:
        url = f"ws://127.0.0.1:{port}/loki/api/v1/tail?query=%7Bjob%3D%22t%22%7D"
        async with connect(url) as ws, httpx.AsyncClient() as c:
            await asyncio.sleep(0.3)
            r = await c.post(f"http://127.0.0.1:{port}/loki/api/v1/push", json={
                "streams": [{"stream": {"job": "t"}, "values": [[str(time.time_ns()), "hello tail"]]}]})
            assert r.status_code == 204, r.text
            frame: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 20))
            return frame

    try:
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert "websockets" not in imported()
        frame = asyncio.run(tail())
    finally:
        proc.terminate()
        proc.wait(30)
    streams = frame["streams"]
    assert isinstance(streams, list)
    assert streams[0]["stream"] == {"job": "t"} and streams[0]["values"][0][1] == "hello tail"
    assert "websockets" in imported()


def test_enable_feature_is_read_as_prometheus_reads_it(caplog: pytest.LogCaptureFixture) -> None:
    """Comma-separated or repeated; features guardia always has are accepted, unknown ones
    logged and ignored (a Prometheus unit file must still start)."""
    values = parse_args(["--enable-feature", "native-histograms",
                         "--enable-feature=promql-delayed-name-removal,no-such-thing"])
    assert values is not None
    with caplog.at_level("INFO"):
        opts = options(values)
    assert opts.delayed_name_removal
    assert opts.flags["enable-feature"] == "native-histograms,promql-delayed-name-removal,no-such-thing"
    assert "feature=no-such-thing" in caplog.text and "ignored" in caplog.text
    assert "feature=native-histograms" in caplog.text
    plain = parse_args([])
    assert plain is not None and not options(plain).delayed_name_removal
