"""``guardia serve --agent`` forwards what it scrapes to a real VictoriaMetrics, keeps only a
WAL, answers no queries, and refuses what an agent cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.storage.remote.peers import SRC, Proc, flush_victoria, free_port, guardia, victoria

# what an agent must never load: the CLI's libraries (typer, rich, pygments, pydantic, httpx's
# CLI), the WebSocket library, prometheus_client's exposition with its HTTP servers, httpx (remote
# write and scrapes use guardia's own clients; httpx loads only for a proxy or OAuth2), uvicorn
# and what it brings (the agent serves HTTP with ``guardia.web.small_server``), what only runs
# when configured (bcrypt for web users, the probers and dnslib for probes), full mode's
# subsystems (zstandard: the head's pages), numpy: the agent's scrape path, WAL records and
# remote write encoders use Python arrays, and starlette with anyio, python_multipart and email:
# the agent's routes are plain ASGI (``guardia.web.plain_router``); decimal, orjson and difflib are
# loaded where full mode uses them (Go's %g, the exemplar store's files, a misspelt config field)
AGENT_NEVER = {"typer", "rich", "pygments", "pydantic", "websockets", "jinja2", "hypercorn", "cryptography",
               "httpx", "httpcore", "h11", "h2", "uvicorn", "click", "httptools", "uvloop", "multiprocessing",
               "bcrypt", "dnslib", "zstandard", "numpy", "wsgiref", "socketserver", "starlette", "anyio",
               "sniffio", "multipart", "python_multipart", "email", "decimal", "orjson", "difflib",
               "blake3"}  # full mode's repeated-body digest (guardia.scrape.fastpath)
FULL_ONLY = ("guardia.promql", "guardia.web.ui", "guardia.rules", "guardia.alerting", "guardia.logs",
             "guardia.reports", "guardia.slo", "guardia.storage.tsdb.db", "guardia.web.api_v1",
             "google.protobuf", "guardia.storage.tsdb.chunks", "guardia.storage.tsdb.head_layout",
             "guardia.probes.http", "guardia.probes.dns", "guardia.probes.grpc",
             "guardia.scrape.fastpath", "guardia.scrape.protofast",  # numpy shortcuts of full mode
             "guardia.config.alertmanager", "guardia.config.receivers",  # read with an alertmanager section
             # prometheus_client's __init__ and exposition (http.server, urllib.request, wsgiref):
             # guardia.web.light_client skips it, guardia.web.metrics_text writes /metrics
             "prometheus_client.exposition", "prometheus_client.openmetrics", "prometheus_client.asgi",
             "http.server", "urllib.request", "http.client")


def test_an_agent_forwards_and_keeps_nothing_else(tmp_path: Path, procs: list[Proc]) -> None:
    vm = victoria(tmp_path)
    procs.append(vm.start())
    port = free_port()
    cfg = tmp_path / "agent.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 500ms, external_labels: {{agent: a1}}}}
scrape_configs:
  - job_name: agent
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {vm.url}/api/v1/write
    queue_config: {{batch_send_deadline: 200ms}}
""")
    agent_dir = tmp_path / "agent-data"
    g = guardia(tmp_path, cfg, port, "--agent", "--storage.agent.path", str(agent_dir))
    g.argv[1:1] = ["-X", "importtime"]  # every module the process imports, whenever, to its log
    procs.append(g.start())
    deadline = time.time() + 30
    while True:
        flush_victoria(vm)
        res = vm.query('up{job="agent", agent="a1"}', time.time())["result"]
        if res or time.time() > deadline:
            break
        time.sleep(0.5)
    assert res and res[0]["value"][1] == "1"
    samples = vm.query('count({job="agent"})', time.time())["result"]
    assert samples and float(samples[0]["value"][1]) > 50  # its own metrics, forwarded
    r = g.http.get("/api/v1/query", params={"query": "up"})
    assert r.status_code == 422 and r.json()["errorType"] == "unavailable"
    assert sorted(p.name for p in agent_dir.iterdir()) == ["lock", "remote_write", "wal"]
    assert not (tmp_path / "guardia-data").exists()  # no embedded store was opened
    # the lag metric's two sides: what the WAL took (newest scrape) and what was acknowledged
    from prometheus_client.parser import text_string_to_metric_families

    # written by guardia.web.metrics_text: promtool parses it (exit 1 would be a format error) and
    # finds no lint problem
    exposition = g.http.get("/metrics")
    lint = subprocess.run(["promtool", "check", "metrics"], input=exposition.content, capture_output=True,
                          timeout=30)
    assert lint.returncode == 0 and lint.stdout == b"" and lint.stderr == b"", lint.stdout + lint.stderr
    assert exposition.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
    vals = {s.name: s.value for f in text_string_to_metric_families(exposition.text) for s in f.samples}
    highest = vals["prometheus_remote_storage_highest_timestamp_in_seconds"]
    assert time.time() - 5 < highest <= time.time() + 1
    assert 0 <= highest - vals["prometheus_remote_storage_queue_highest_sent_timestamp_seconds"] < 5
    # having scraped, sent, answered /metrics and refused a query, the agent has not imported
    # what it does not run, nor what only reads a command line (``guardia.cli.serve_run``)
    g.stop()
    imported = {line.rsplit("|", 1)[1].strip() for line in g.log.read_text().splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "guardia.scrape.loop" in imported and "guardia.storage.remote.queue_manager" in imported
    assert sorted(m for m in imported if m.split(".")[0] in AGENT_NEVER or m.startswith(FULL_ONLY)) == []


def test_an_agent_refuses_rules_and_a_config_without_remote_write(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yml"
    cfg.write_text("global: {scrape_interval: 15s}\nrule_files: [rules.yml]\n")
    (tmp_path / "rules.yml").write_text("groups: []\n")
    out = subprocess.run(
        [sys.executable, "-m", "guardia.cli.main", "serve", "--agent", "--config", str(cfg),
         "--web.listen-address", f"127.0.0.1:{free_port()}", "--storage.agent.path", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert out.returncode == 1
    assert f"{cfg}:2:1: rule_files: not allowed in agent mode" in out.stderr
    assert "remote_write: agent mode needs at least one remote_write endpoint" in out.stderr


def test_agent_mode_does_not_import_the_full_server() -> None:
    """What ``guardia serve --agent`` imports before it starts (``guardia.cli.serve`` and the
    server module): none of the query engine, UI, rules, alerting, logs, reports, the TSDB
    proper, protobuf, the HTTPS listener, uvicorn or httpx, which full mode imports where it
    builds them."""
    code = """
import sys
import guardia.cli.serve, guardia.server
heavy = ("guardia.promql", "guardia.web.ui", "guardia.rules", "guardia.alerting", "guardia.logs",
         "guardia.reports", "guardia.slo", "guardia.storage.tsdb.db", "guardia.web.api_v1", "jinja2",
         "google.protobuf", "hypercorn", "cryptography", "uvicorn", "httpx", "starlette", "anyio")
print(sorted({h for h in heavy for m in sys.modules if m == h or m.startswith(h + ".")}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
