"""End-to-end scraping cost: guardia vs Prometheus on the same targets, at the same time.

50 local targets each serve a ~2,000-series exposition (counters, gauges, 12-bucket
histograms, values changing every scrape) and one Debian node exporter runs beside them.
guardia's scrape manager writing to the embedded TSDB (WAL included) runs in its own
process; Debian's Prometheus scrapes the same targets with the same prometheus.yml.  Both
scrape every 5 s for ``SCRAPE_E2E_SECONDS`` (default 60; the issue's full run is 120).

Reported for each: CPU seconds (user+system of the whole process tree) per million samples
appended, and RSS at the end; then the ratios guardia/Prometheus.  The target servers run
in a third process that neither side is charged for.  The last line is guardia's CPU
seconds per million samples.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.exposition import make_exposition

SECONDS = float(os.environ.get("SCRAPE_E2E_SECONDS", "60"))
TARGETS = int(os.environ.get("SCRAPE_E2E_TARGETS", "50"))
INTERVAL = os.environ.get("SCRAPE_E2E_INTERVAL", "5s")


# -- target servers (own process) ------------------------------------------------------------


def serve_targets(n: int, ready: Path) -> None:
    bodies = [make_exposition(2000, seed).encode() for seed in range(16)]
    counter = [0]

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # serve a different set of values on every request
            counter[0] += 1
            body = bodies[counter[0] % len(bodies)]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ports = []
    for _ in range(n):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        srv.daemon_threads = True
        srv.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        ports.append(srv.server_address[1])
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ready.write_text(json.dumps(ports))
    while True:
        time.sleep(3600)


# -- guardia (own process) -------------------------------------------------------------------


async def _guardia(config_path: str, seconds: float, data_dir: str) -> dict[str, float]:
    from guardia.config import load_yaml
    from guardia.config.prometheus import parse_prometheus_config
    from guardia.scrape.manager import ScrapeManager
    from guardia.storage.tsdb import TSDB

    cfg, issues = parse_prometheus_config(load_yaml(config_path))
    assert cfg is not None, [str(i) for i in issues]
    db = TSDB.open(data_dir)
    samples = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)

    mgr = ScrapeManager(db, poll_interval=5.0)

    def count(loop, duration, ok):  # type: ignore[no-untyped-def]
        nonlocal samples
        res = loop.last_result
        samples += 5 + (res.post_relabel if ok and res is not None else 0)

    mgr.apply_config(cfg)
    await mgr.sync()
    for lp in mgr.loops():
        lp.on_scrape = count
    task = asyncio.create_task(mgr.run())
    await asyncio.sleep(seconds / 3)
    # Mid-point mark: the parent reads Prometheus's counters now, so the last two thirds
    # (every target past its first, uncached scrape) can be compared on their own.
    ru_mid = resource.getrusage(resource.RUSAGE_SELF)
    samples_mid = samples
    print("MARK", flush=True)
    await asyncio.sleep(seconds * 2 / 3)
    up = sum(1 for t in mgr.targets() if t.health == "up")
    await mgr.stop()
    task.cancel()
    db.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss = _rss_kib(os.getpid())
    cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    steady_cpu = ru.ru_utime + ru.ru_stime - ru_mid.ru_utime - ru_mid.ru_stime
    return {"cpu": cpu, "steady_cpu": steady_cpu, "steady_samples": samples - samples_mid,
            "samples": samples, "rss_kib": rss, "up": up}


def _rss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    # utime, stime, cutime, cstime (children that were waited for)
    return sum(int(x) for x in fields[11:15]) / tick


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _prom_samples(base: str) -> float:
    """Samples Prometheus appended so far, read from its own /metrics (it does not scrape itself)."""
    from guardia.model.textparse import parse

    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    name = "prometheus_tsdb_head_samples_appended_total"
    return sum(s.value for s in parse(text).samples if s.name == name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ready = t / "ports.json"
        servers = subprocess.Popen([sys.executable, "-m", "benchmarks.scrape_e2e", "--serve", str(TARGETS),
                                    str(ready)])
        node_port = _free_port()
        node = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs = [servers, node]
        try:
            while not ready.exists():
                time.sleep(0.1)
            time.sleep(0.2)
            ports = json.loads(ready.read_text())
            _wait(f"http://127.0.0.1:{node_port}/metrics")
            targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
            config = (
                f"global: {{scrape_interval: {INTERVAL}, scrape_timeout: 4s}}\n"
                "scrape_configs:\n"
                f"  - job_name: app\n    static_configs: [{{targets: [{targets}]}}]\n"
                f"  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
            )
            (t / "prometheus.yml").write_text(config)
            prom_port = _free_port()
            prom = subprocess.Popen(
                ["prometheus", f"--config.file={t / 'prometheus.yml'}", f"--storage.tsdb.path={t / 'prom'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=error"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            procs.append(prom)
            base = f"http://127.0.0.1:{prom_port}"
            _wait(base + "/-/ready")
            prom_cpu0 = _cpu_seconds(prom.pid)
            prom_samples0 = _prom_samples(base)
            g = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.scrape_e2e", "--guardia", str(t / "prometheus.yml"),
                 str(SECONDS), str(t / "guardia")],
                stdout=subprocess.PIPE, text=True,
            )
            assert g.stdout is not None
            last = ""
            for line in g.stdout:
                if line.startswith("MARK"):
                    prom_cpu_mid = _cpu_seconds(prom.pid)
                    prom_samples_mid = _prom_samples(base)
                last = line
            if g.wait() != 0:
                raise RuntimeError("the guardia process failed")
            ours = json.loads(last)
            prom_samples = _prom_samples(base) - prom_samples0
            prom_cpu = _cpu_seconds(prom.pid) - prom_cpu0
            prom_rss = _rss_kib(prom.pid)
            prom_steady_cpu = _cpu_seconds(prom.pid) - prom_cpu_mid
            prom_steady = _prom_samples(base) - prom_samples_mid
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
    g_cpu_per_m = ours["cpu"] / (ours["samples"] / 1e6)
    p_cpu_per_m = prom_cpu / (prom_samples / 1e6)
    print(f"load: {TARGETS} targets x ~2,000 series + node exporter every {INTERVAL} for {SECONDS:.0f} s "
          f"(shared 2-core machine; both ran at the same time)")
    print(f"guardia:    {ours['samples']:,.0f} samples, {ours['cpu']:.1f} CPU s, "
          f"{g_cpu_per_m:.2f} CPU s per million samples, RSS {ours['rss_kib'] / 1024:.0f} MiB, "
          f"{ours['up']} targets up")
    print(f"prometheus: {prom_samples:,.0f} samples, {prom_cpu:.1f} CPU s, "
          f"{p_cpu_per_m:.2f} CPU s per million samples, RSS {prom_rss / 1024:.0f} MiB")
    g_steady = ours["steady_cpu"] / (ours["steady_samples"] / 1e6)
    p_steady = prom_steady_cpu / (prom_steady / 1e6)
    print(f"steady state (last two thirds): guardia {g_steady:.2f}, prometheus {p_steady:.2f} "
          f"CPU s per million samples ({g_steady / p_steady:.2f}x)")
    print(f"ratios guardia/prometheus: CPU per sample {g_cpu_per_m / p_cpu_per_m:.2f}x, "
          f"RSS {ours['rss_kib'] / prom_rss:.2f}x")
    print(f"{g_cpu_per_m:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_targets(int(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--guardia":
        out = asyncio.run(_guardia(sys.argv[2], float(sys.argv[3]), sys.argv[4]))
        print(json.dumps(out))
    else:
        main()
