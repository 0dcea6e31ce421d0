"""Real processes the remote-storage tests talk to: guardia itself (``guardia serve`` in a
subprocess, so it can be stopped and started again on the same data), Debian's
VictoriaMetrics and Prometheus (as a remote write receiver), on free 127.0.0.1 ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

VICTORIA = "/usr/bin/victoria-metrics"
PROMETHEUS = "/usr/bin/prometheus"
SRC = Path(__file__).resolve().parents[3] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed (scripts/system-packages.txt lists its package)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{SRC}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(SRC)
    return env


class Proc:
    """A subprocess with an HTTP port, a log file and a readiness URL."""

    def __init__(self, name: str, tmp: Path, argv: list[str], port: int, ready_path: str) -> None:
        self.name, self.tmp, self.argv, self.port, self.ready_path = name, tmp, argv, port, ready_path
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self, timeout: float = 60) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp,
                                         env=_env())
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
            try:
                if self.http.get(self.ready_path).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.proc.kill()  # the caller never got it to stop: do not leave it running
        self.proc.wait()
        raise AssertionError(f"{self.name} not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM and a wait long enough for a loaded machine: a receiver killed before it has
        flushed would lose samples it acknowledged, which would read as guardia's loss."""
        if self.proc is not None and self.proc.poll() is None:
            if self.name == "victoria-metrics":
                flush_victoria(self)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, q: str, t: float) -> Any:
        r = self.http.get("/api/v1/query", params={"query": q, "time": t}).json()
        assert r["status"] == "success", (self.name, q, r)
        return r["data"]


def guardia(tmp: Path, config: Path, port: int | None = None, *extra: str) -> Proc:
    port = port or free_port()
    argv = [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(config),
            "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.path", str(tmp / "guardia-data"),
            *extra]
    return Proc("guardia", tmp, argv, port, "/-/ready")


def guardia_receiver(tmp: Path) -> Proc:
    """A guardia that only receives remote write (its own directory ``rx`` under ``tmp``)."""
    rx_dir = tmp / "rx"
    rx_dir.mkdir()
    (rx_dir / "rx.yml").write_text("global: {scrape_interval: 1m}\n")
    return guardia(rx_dir, rx_dir / "rx.yml")


# Queues that retry fast, for tests waiting on what a receiver holds.
FAST_QUEUE = "queue_config: {batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 400ms}"


def via_queues(rx: str, setting: str) -> str:
    """``remote_write`` entries to one guardia receiver: ``v1`` and ``v2`` (each protocol version)
    with ``setting: true``, ``off`` without it; each labels what it sends ``via=<name>``."""
    out: list[str] = []
    for name, extra in (("v1", [f"{setting}: true"]),
                        ("v2", ["protobuf_message: io.prometheus.write.v2.Request", f"{setting}: true"]),
                        ("off", [])):
        out += [f"  - url: {rx}/api/v1/write", f'    name: "{name}"', *(f"    {e}" for e in extra),
                f'    write_relabel_configs: [{{target_label: via, replacement: "{name}"}}]',
                f"    {FAST_QUEUE}"]
    return "\n".join(out) + "\n"


def victoria(tmp: Path, port: int | None = None) -> Proc:
    need(VICTORIA)
    port = port or free_port()
    argv = [VICTORIA, f"-storageDataPath={tmp / 'vm-data'}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y", "-search.latencyOffset=0s", "-search.disableCache",
            "-dedup.minScrapeInterval=1ms", "-loggerLevel=ERROR"]
    return Proc("victoria-metrics", tmp, argv, port, "/health")


def prometheus_receiver(tmp: Path, port: int | None = None, *extra: str) -> Proc:
    need(PROMETHEUS)
    port = port or free_port()
    cfg = tmp / "receiver.yml"
    cfg.write_text("global: {scrape_interval: 1m}\n")
    argv = [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp / 'prom-data'}", "--web.enable-remote-write-receiver",
            "--log.level=error", *extra]
    return Proc("prometheus", tmp, argv, port, "/-/ready")


def flush_victoria(vm: Proc) -> None:
    """VictoriaMetrics makes recent rows searchable within a second or so; this forces it."""
    with contextlib.suppress(httpx.HTTPError):
        vm.http.get("/internal/force_flush")
