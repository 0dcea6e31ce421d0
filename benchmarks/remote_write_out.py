"""Remote write out: guardia and Prometheus 2.42 scrape the same 50 targets × ~2,000 series and
remote-write everything to one real VictoriaMetrics, at the same time.

Both run as the real servers (``guardia serve`` and Debian's ``prometheus``) with the same
scrape config, each with its own ``external_labels`` (``replica``) so their series stay apart
in VictoriaMetrics.  After a warm-up (every target scraped, the queues running), a window of
``REMOTE_WRITE_OUT_SECONDS`` (default 60) is measured: samples each one sent (its own
``prometheus_remote_storage_samples_total``), the CPU seconds of its process over the window,
and from those samples/s sent and CPU µs per sample sent.  The CPU is the whole process's
(scraping, storing and sending), the same work on both sides; the target servers and
VictoriaMetrics run in processes neither side is charged for.  The last line is guardia's CPU
per sample sent divided by Prometheus's (target: ≤ 1).

``REMOTE_WRITE_OUT_AGENT=1`` runs both as agents (``guardia serve --agent`` and Prometheus's
``--enable-feature=agent``): scrape, WAL and send, nothing kept for queries.
``REMOTE_WRITE_OUT_GUARDIA_SRC`` runs another checkout's guardia (to alternate old and new code).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.scrape_e2e import (
    _cpu_seconds,
    _free_port,
    _rss_kib,
    _wait,
    start_targets,
    start_victoria_metrics,
    target_ports,
)

SECONDS = float(os.environ.get("REMOTE_WRITE_OUT_SECONDS", "60"))
WARMUP = float(os.environ.get("REMOTE_WRITE_OUT_WARMUP", "25"))
TARGETS = int(os.environ.get("REMOTE_WRITE_OUT_TARGETS", "50"))
INTERVAL = os.environ.get("REMOTE_WRITE_OUT_INTERVAL", "5s")
AGENT = os.environ.get("REMOTE_WRITE_OUT_AGENT", "") not in ("", "0")
SRC = Path(os.environ.get("REMOTE_WRITE_OUT_GUARDIA_SRC") or Path(__file__).resolve().parents[1] / "src")


def _sent(base: str) -> float:
    """Samples sent so far, from the server's own /metrics."""
    from guardia.model.textparse import parse

    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(s.value for s in parse(text).samples if s.name == "prometheus_remote_storage_samples_total")


def _vm_count(vm: str, replica: str) -> float:
    q = urllib.parse.urlencode({"query": f'count({{replica="{replica}"}})'})
    with urllib.request.urlopen(f"{vm}/api/v1/query?{q}", timeout=30) as r:
        res = json.load(r)["data"]["result"]
    return float(res[0]["value"][1]) if res else 0.0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ready = t / "ports.json"
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(start_targets(TARGETS, ready))
            vm_port = _free_port()
            vm = f"http://127.0.0.1:{vm_port}"
            procs.append(start_victoria_metrics(t / "vm", vm_port, "-search.latencyOffset=0s"))
            ports = target_ports(ready)
            _wait(vm + "/health")
            targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)

            def config(replica: str) -> Path:
                path = t / f"{replica}.yml"
                path.write_text(
                    f"global: {{scrape_interval: {INTERVAL}, scrape_timeout: 4s, "
                    f"external_labels: {{replica: {replica}}}}}\n"
                    "scrape_configs:\n"
                    f"  - job_name: app\n    static_configs: [{{targets: [{targets}]}}]\n"
                    f"remote_write:\n  - url: {vm}/api/v1/write\n"
                )
                return path

            prom_port, g_port = _free_port(), _free_port()
            prom_mode = ["--enable-feature=agent", f"--storage.agent.path={t / 'prom'}"] if AGENT \
                else [f"--storage.tsdb.path={t / 'prom'}"]
            g_mode = ["--agent", "--storage.agent.path", str(t / "guardia")] if AGENT \
                else ["--storage.tsdb.path", str(t / "guardia")]
            prom = subprocess.Popen(
                ["prometheus", f"--config.file={config('prometheus')}", *prom_mode,
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=error"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(prom)
            env = dict(os.environ, PYTHONPATH=str(SRC))
            g = subprocess.Popen(
                [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(config("guardia")),
                 "--web.listen-address", f"127.0.0.1:{g_port}", *g_mode, "--log.level", "warn"],
                stdout=subprocess.DEVNULL, stderr=(t / "guardia.log").open("wb"), env=env, cwd=t)
            procs.append(g)
            pbase, gbase = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{g_port}"
            _wait(pbase + "/-/ready")
            _wait(gbase + "/-/ready")
            time.sleep(WARMUP)
            p0, g0 = _sent(pbase), _sent(gbase)
            pc0, gc0 = _cpu_seconds(prom.pid), _cpu_seconds(g.pid)
            w0 = time.monotonic()
            time.sleep(SECONDS)
            wall = time.monotonic() - w0
            p_sent, g_sent = _sent(pbase) - p0, _sent(gbase) - g0
            p_cpu, g_cpu = _cpu_seconds(prom.pid) - pc0, _cpu_seconds(g.pid) - gc0
            p_rss, g_rss = _rss_kib(prom.pid), _rss_kib(g.pid)
            time.sleep(6)
            try:
                vm_series: tuple[float, float] | None = (_vm_count(vm, "guardia"),
                                                         _vm_count(vm, "prometheus"))
            except OSError:  # a loaded machine: the check is informative, the figures stand
                vm_series = None
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
    if not g_sent or not p_sent:
        raise SystemExit(f"nothing sent (guardia {g_sent}, prometheus {p_sent}): see {t / 'guardia.log'}")
    g_us, p_us = g_cpu / g_sent * 1e6, p_cpu / p_sent * 1e6
    print(f"load: {TARGETS} targets x ~2,000 series every {INTERVAL}, both{' as agents' if AGENT else ''} "
          "remote-writing to one "
          f"VictoriaMetrics; window {wall:.0f} s after {WARMUP:.0f} s warm-up (shared 2-vCPU machine)")
    print(f"guardia:    {g_sent / wall:,.0f} samples/s sent, {g_cpu:.1f} CPU s, {g_us:.2f} µs CPU per sample "
          f"sent (scrape + store + send), RSS {g_rss / 1024:.0f} MiB")
    print(f"prometheus: {p_sent / wall:,.0f} samples/s sent, {p_cpu:.1f} CPU s, {p_us:.2f} µs CPU per sample "
          f"sent (scrape + store + send), RSS {p_rss / 1024:.0f} MiB")
    if vm_series is not None:
        print(f"series in VictoriaMetrics: guardia {vm_series[0]:,.0f}, prometheus {vm_series[1]:,.0f}")
    print(f"{g_us / p_us:.2f}")


if __name__ == "__main__":
    main()
