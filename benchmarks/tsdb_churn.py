"""Series churn over a simulated day: memory and checkpoint size must stay flat.

1,000 targets of 200 series each, scraped every 60 s of simulated time, for 24 simulated hours
(compressed: appended as fast as the store takes them, with the server's ``maintain`` once a
simulated minute... every ten rounds).  Every pod restarts every 2 h with a new ``instance``
(the restarts staggered across targets, as a rolling deployment spreads them), so 12 times the
active series are created over the day.  Without series garbage collection the head's index,
its per-series arrays and every WAL checkpoint would grow with all of them.

Printed per simulated hour: RSS of this process, the WAL checkpoint's size, the head's series,
and RSS bytes per active series (RSS growth over the empty-store baseline / 200,000).  Last:
the worst RSS and checkpoint size after the first retention period (``--retention-hours``)
against the steady state (the median of the same hours); the target is ≤ 1.2×.

    python -m benchmarks.tsdb_churn [--targets 1000] [--hours 24] [--interval 60]
    python -m benchmarks.tsdb_churn --prometheus /usr/bin/prometheus [--targets 100]

``--prometheus`` runs the same churn into Prometheus (Debian's 2.42) instead, through its
remote-write receiver (the only way to feed it compressed time), and prints its RSS and
checkpoint size by the same hours.  Requests come from ``churn_requests`` (pre-encoded series
patched with each round's values: ~0.1 s a round, where encoding them took 0.8 s), split into
``--shards`` requests of disjoint targets sent at once, so Prometheus can use both cores.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from benchmarks.churn_requests import ChurnRequests
from guardia.model import Labels
from guardia.storage.tsdb import TSDB, TSDBOptions

HOUR = 3_600_000


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def checkpoint_bytes(waldir: Path) -> int:
    cps = sorted(waldir.glob("checkpoint.*"))
    return dir_bytes(cps[-1]) if cps else 0


def target_labels(target: int, gen: int, per_target: int) -> list[Labels]:
    inst = f"app-{target % 50}-{gen:04d}-{target:05d}:8080"
    out = []
    for k in range(per_target):
        out.append(Labels({"__name__": f"app_metric_{k % 40}", "job": f"app-{target % 50}",
                           "instance": inst, "pod": f"pod-{target:05d}-{gen:04d}", "shard": str(k // 40)}))
    return out


def proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_prometheus(binary: str, args: argparse.Namespace) -> None:
    """The same churn into Prometheus over remote write; its RSS and checkpoint by hour."""
    step = args.interval * 1000
    life = int(args.pod_life_hours * HOUR)
    n_active = args.targets * args.per_target
    rounds = args.hours * HOUR // step
    rng = np.random.default_rng(7)
    offset = np.arange(args.targets, dtype=np.int64) * life // args.targets
    start = (int(time.time() * 1000) // HOUR - args.hours - 1) * HOUR  # all in the past, ending now
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
        proc = subprocess.Popen(
            [binary, f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/data",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver",
             f"--storage.tsdb.retention.time={args.retention_hours}h"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(timeout=60) as c:
                for _ in range(200):
                    try:
                        if c.get(f"{url}/-/ready").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.1)
                base = proc_rss(proc.pid)
                requests = ChurnRequests(args.targets)
                gens = np.full(args.targets, -1, dtype=np.int64)
                values = np.zeros(n_active, dtype=np.float64)
                rows: list[tuple[int, int, int]] = []
                t0 = time.perf_counter()
                cpu0 = proc_cpu(proc.pid)
                headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                           "X-Prometheus-Remote-Write-Version": "0.1.0"}

                def post(body: bytes) -> None:
                    r = c.post(f"{url}/api/v1/write", content=body, headers=headers)
                    if r.status_code >= 300:
                        raise RuntimeError(f"prometheus refused a request: {r.status_code} {r.text[:200]}")

                print("hour  prometheus_rss_MiB  checkpoint_MiB  bytes/active_series  load_average")
                with ThreadPoolExecutor(args.shards) as pool:
                    for k in range(rounds):
                        t = k * step
                        gen = (t + offset) // life
                        for i in np.flatnonzero(gen != gens).tolist():
                            requests.set_target(i, target_labels(i, int(gen[i]), args.per_target))
                            gens[i] = gen[i]
                        values += rng.integers(0, 5, n_active)
                        # the shards hold disjoint series: sent at once, each series stays in order
                        list(pool.map(post, requests.bodies(start + t, values, args.shards)))
                        if (t + step) % HOUR == 0:
                            hour = (t + step) // HOUR
                            rr, cp = proc_rss(proc.pid), checkpoint_bytes(Path(d) / "data" / "wal")
                            rows.append((hour, rr, cp))
                            per = (rr - base) / n_active
                            print(f"{hour:4d}  {rr / 2**20:18.0f}  {cp / 2**20:14.1f}  {per:19,.0f}  "
                                  f"{os.getloadavg()[0]:12.1f}", flush=True)
                dt = time.perf_counter() - t0
                cpu = proc_cpu(proc.pid) - cpu0
        finally:
            proc.terminate()
            proc.wait(30)
    after = [row for row in rows if row[0] > args.retention_hours]
    steady = statistics.median(row[1] for row in after)
    print(f"{rounds * n_active / dt / 1e6:.2f} M samples/s sent over {dt:.0f} s; Prometheus used "
          f"{cpu:.0f} s of CPU ({cpu / (rounds * n_active) * 1e6:.2f} us a sample); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"tsdb_churn (prometheus): steady RSS {steady / 2**20:.0f} MiB, worst/steady "
          f"{max(row[1] for row in after) / steady:.2f}x, "
          f"{(steady - base) / n_active:,.0f} RSS bytes per active series")


def main() -> None:
    # a timeout's SIGTERM must still stop the Prometheus this started (``finally`` runs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--per-target", type=int, default=200)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--interval", type=int, default=60, help="simulated seconds between scrapes")
    ap.add_argument("--pod-life-hours", type=float, default=2.0)
    ap.add_argument("--retention-hours", type=int, default=6)
    ap.add_argument("--prometheus", metavar="BINARY", help="run the churn into this Prometheus instead")
    ap.add_argument("--shards", type=int, default=2, help="--prometheus: concurrent requests a round")
    args = ap.parse_args()
    if args.prometheus:
        run_prometheus(args.prometheus, args)
        return
    step = args.interval * 1000
    life = int(args.pod_life_hours * HOUR)
    n_active = args.targets * args.per_target
    rounds = args.hours * HOUR // step
    rng = np.random.default_rng(7)
    offset = np.arange(args.targets, dtype=np.int64) * life // args.targets  # staggered restarts
    gc.collect()
    with tempfile.TemporaryDirectory() as d:
        opts = TSDBOptions(retention_ms=args.retention_hours * HOUR)
        base = rss()
        db = TSDB.open(d, opts)
        app = db.appender()
        gens = np.full(args.targets, -1, dtype=np.int64)
        refs = np.zeros((args.targets, args.per_target), dtype=np.int64)
        values = np.zeros(n_active, dtype=np.float64)
        t0 = time.perf_counter()
        rows: list[tuple[int, int, int, int, int]] = []
        epoch = db.ref_epoch
        print("hour  rss_MiB  checkpoint_MiB  head_series  created_total  bytes/active_series")
        for k in range(rounds):
            t = k * step
            gen = (t + offset) // life
            if db.ref_epoch != epoch:  # a GC renumbered the refs: look them up again, as a scrape cache does
                gens[:] = -1
                epoch = db.ref_epoch
            app = db.appender()
            for i in np.flatnonzero(gen != gens).tolist():
                refs[i] = [app.ref(lb) for lb in target_labels(i, int(gen[i]), args.per_target)]
                gens[i] = gen[i]
            values += rng.integers(0, 5, n_active)
            app.append_batch(refs.ravel(), t, values)
            app.commit()
            if k % 10 == 9:
                db.maintain()
            if (t + step) % HOUR == 0:
                gc.collect()
                hour = (t + step) // HOUR
                r, cp = rss(), checkpoint_bytes(Path(d) / "wal")
                created = int(db.metrics.head_series_created._value.get())
                rows.append((hour, r, cp, db.head.num_series, created))
                print(f"{hour:4d}  {r / 2**20:7.0f}  {cp / 2**20:14.1f}  {db.head.num_series:11,d}  "
                      f"{created:13,d}  {(r - base) / n_active:19,.0f}", flush=True)
        dt = time.perf_counter() - t0
        db.close()
    after = [row for row in rows if row[0] > args.retention_hours]
    steady_rss = statistics.median(row[1] for row in after)
    steady_cp = statistics.median(row[2] for row in after)
    worst_rss = max(row[1] for row in after) / steady_rss
    worst_cp = max(row[2] for row in after) / steady_cp
    print(f"{rounds * n_active / dt / 1e6:.2f} M samples/s over {dt:.0f} s; "
          f"steady state after hour {args.retention_hours}: RSS {steady_rss / 2**20:.0f} MiB, "
          f"checkpoint {steady_cp / 2**20:.1f} MiB")
    print(f"tsdb_churn: worst/steady after the first retention period: RSS {worst_rss:.2f}x, "
          f"checkpoint {worst_cp:.2f}x (target <= 1.2x); "
          f"{(steady_rss - base) / n_active:,.0f} RSS bytes per active series")


if __name__ == "__main__":
    main()
