"""Probes at scale, and a status page over 90 days of data.

1. 1,000 HTTP probes every 30 s (one monitor, 1,000 targets) against a local HTTP server
   running in another process, through the real schedule and the embedded TSDB: guardia's CPU
   per probe (process CPU time over the run / probes done) and the lag of probe start times
   (how late each probe started against its slot).  Targets: <= 2 ms CPU per probe, no start
   later than 1 s.
2. A status page with 50 monitors and 90 days of probe results (one a minute, 6.5 M samples,
   in the in-memory store: the embedded head does not take samples 90 days old): the server
   time to build and render the page, cold (first request) and warm (finished days cached,
   today recounted).  Target: <= 100 ms.

``python -m benchmarks.probes [seconds]`` (default 65 s for part 1); the last line is the CPU
per probe.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from guardia.model import Labels
from guardia.probes.config import load_probes
from guardia.probes.service import ProbeService
from guardia.probes.status import StatusStore
from guardia.probes.uptime import DAY_MS, UptimeCache
from guardia.storage.memory import MemoryStorage
from guardia.storage.tsdb import TSDB
from guardia.web.status.pages import StatusDeps, StatusSite

PROBES = 1000
INTERVAL = "30s"
SERVER = """
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"status":"UP"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def bench_probes(seconds: float) -> float:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory() as d:
            targets = ", ".join(f'"http://127.0.0.1:{port}/health?i={i}"' for i in range(PROBES))
            cfg = Path(d) / "guardia.yml"
            cfg.write_text(f"probes:\n  - {{name: fleet, module: http_2xx, interval: {INTERVAL}, "
                           f"targets: [{targets}]}}\n")
            db = TSDB.open(str(Path(d) / "data"))
            try:
                svc = ProbeService(db)
                svc.apply_config(load_probes(str(cfg)))

                async def run() -> tuple[float, int, list[float]]:
                    await svc.start()
                    cpu0 = time.process_time()
                    await asyncio.sleep(seconds)
                    cpu = time.process_time() - cpu0
                    await svc.stop()
                    return cpu, len(svc.lags), list(svc.lags)

                cpu, done, lags = asyncio.run(run())
                up = sum(1 for s in svc.states.values() if s.status == "up")
            finally:
                db.close()
    finally:
        server.terminate()
        server.wait(5)
    per_probe_ms = cpu / max(done, 1) * 1000
    print(f"probes: {done} HTTP probes in {seconds:.0f} s ({PROBES} targets every {INTERVAL}), "
          f"{up}/{PROBES} targets up")
    print(f"start lag: median {statistics.median(lags) * 1000:.1f} ms, p99 "
          f"{np.percentile(lags, 99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms (target: none > 1000 ms)")
    print(f"CPU: {cpu:.2f} s for {done} probes (schedule, probe, conditions, TSDB append)")
    return per_probe_ms


def bench_status_page() -> tuple[float, float]:
    now_ms = int(time.time() * 1000)
    storage = MemoryStorage()
    start = now_ms - now_ms % DAY_MS - 89 * DAY_MS
    ts = np.arange(start, now_ms, 60_000, dtype=np.int64)
    rng = np.random.default_rng(1)
    names = [f"service-{i:02d}" for i in range(50)]
    for name in names:
        vals = (rng.random(ts.shape) > 0.001).astype(np.float64)
        storage.add_series(Labels({"__name__": "probe_success", "job": name, "instance": f"https://{name}/"}),
                           ts.tolist(), vals.tolist())
        recent = ts[-1440:]
        storage.add_series(Labels({"__name__": "probe_duration_seconds", "job": name,
                                   "instance": f"https://{name}/"}),
                           recent.tolist(), (0.05 + 0.02 * rng.random(recent.shape)).tolist())
    with tempfile.TemporaryDirectory() as d:
        probes = "\n".join(f"  - {{name: {n}, module: http_2xx, targets: ['https://{n}/']}}" for n in names)
        groups = "\n".join(f"      - {{name: Group {g}, probes: [{', '.join(names[g * 10:(g + 1) * 10])}]}}"
                           for g in range(5))
        cfg = Path(d) / "guardia.yml"
        cfg.write_text(f"probes:\n{probes}\nstatus_pages:\n  - slug: public\n    title: Bench\n"
                       f"    groups:\n{groups}\n")
        svc = ProbeService(storage)
        svc.apply_config(load_probes(str(cfg)))
        store = StatusStore(None)
        site = StatusSite(StatusDeps(svc, store, UptimeCache(storage, store.windows), storage))
        page = svc.config.status_pages[0]
        t0 = time.perf_counter()
        html = site.render("page.html", **site.view(page))
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(20):
            t0 = time.perf_counter()
            html = site.render("page.html", **site.view(page))
            warm.append(time.perf_counter() - t0)
    print(f"status page: 50 monitors x 90 days ({len(ts) * 50 / 1e6:.1f} M samples), {len(html) // 1024} KiB "
          f"of HTML: cold {cold * 1000:.0f} ms, warm median {statistics.median(warm) * 1000:.1f} ms, "
          f"max {max(warm) * 1000:.1f} ms (target <= 100 ms)")
    return cold, statistics.median(warm)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 65.0
    bench_status_page()
    per_probe = bench_probes(seconds)
    print(f"{per_probe:.2f} ms CPU per HTTP probe (target <= 2 ms)")


if __name__ == "__main__":
    main()
