"""Real peers for scrape tests: node exporter, a prometheus_client app, a real Prometheus."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.exposition import make_wsgi_app

from tests.scrape.helpers import free_port


def _wait_http(url: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"{url} did not come up")
        time.sleep(0.1)


@contextlib.contextmanager
def node_exporter() -> Iterator[str]:
    """Debian's prometheus-node-exporter on 127.0.0.1 with a stable set of collectors."""
    port = free_port()
    args = [
        "prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.loadavg",
        "--collector.stat", "--collector.uname", "--collector.time", "--collector.vmstat",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}/metrics")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def client_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    c = Counter("app_requests", "Requests served.", ["method", "path"], registry=reg)
    c.labels("GET", "/a").inc(3)
    c.labels("POST", '/b"quoted"\\').inc()
    g = Gauge("app_temperature_celsius", "Temperature\nwith newline help.", registry=reg, unit="celsius")
    g.set(21.5)
    h = Histogram("app_latency_seconds", "Latency.", ["route"], registry=reg)
    for v in (0.01, 0.2, 3.0):
        h.labels("/x").observe(v)
    h.labels("/y").observe(0.3, {"trace_id": "KOO5S4vxi0o"})  # an exemplar, parsed and dropped
    s = Summary("app_payload_bytes", "Payload sizes.", registry=reg)
    s.observe(512)
    Info("app_build", "Build info.", registry=reg).info({"version": "1.2.3", "commit": "abc"})
    Enum("app_state", "State.", states=["starting", "running"], registry=reg).state("running")
    Gauge("app_nan", "NaN and infinities.", ["kind"], registry=reg).labels("nan").set(float("nan"))
    return reg


@contextlib.contextmanager
def client_app(reg: CollectorRegistry | None = None) -> Iterator[str]:
    """A prometheus_client registry over HTTP; it answers OpenMetrics when asked for it."""
    server: WSGIServer = make_server("127.0.0.1", 0, make_wsgi_app(reg or client_registry()),
                                     handler_class=_Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def prometheus(config_text: str, tmp: Path, *extra_args: str) -> Iterator[str]:
    """Debian's Prometheus 2.42 with ``config_text`` (and ``extra_args``, e.g. feature flags);
    yields its base URL."""
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(config_text)
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", *extra_args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


def prometheus_get(base: str, path: str) -> object:
    with urllib.request.urlopen(base + path, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]
