"""`guardia report ops`: a 24 h report with a 7 d baseline over 100,000 stored series, whole
command (Python start-up, opening the data directory read-only, every section, Markdown out).

The store holds 1,000 targets x 100 series of ``benchmarks._data`` (request counters, two
latency histograms, process CPU and memory, ``up``...) every 5 minutes for 8 days, written as
blocks the way ``guardia tsdb create-blocks-from`` writes them and then compacted as a running
guardia compacts them, built once into
``$GUARDIA_BENCH_DIR`` (default /tmp/guardia-bench-report-ops) and reused.  The figure is the
median wall time of ``$GUARDIA_BENCH_RUNS`` runs (default 3) of the command, with the CPU time
the command used (on a machine other work loads, the CPU time is the steadier figure); target
< 5 s.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_TARGETS = 1000
STEP_MS = 5 * 60_000
DAY_MS = 86_400_000
SPAN_MS = 8 * DAY_MS
T_END = 1_700_000_000_000 - (1_700_000_000_000 % (2 * 3_600_000))
DATA = Path(os.environ.get("GUARDIA_BENCH_DIR", "/tmp/guardia-bench-report-ops"))
STAMP = f"v2 (compacted) targets={N_TARGETS} step={STEP_MS} span={SPAN_MS} end={T_END}"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def build_store() -> None:
    """8 days of 100,000 series, one day of blocks at a time (bounded memory)."""
    from benchmarks._data import Workload
    from guardia.storage.tsdb.backfill import ParsedFile, write_blocks

    if (DATA / "stamp").is_file() and (DATA / "stamp").read_text() == STAMP:
        return
    if DATA.exists():
        import shutil

        shutil.rmtree(DATA)
    (DATA / "tsdb").mkdir(parents=True)
    started = time.perf_counter()
    w = Workload(N_TARGETS)
    rounds = SPAN_MS // STEP_MS
    per_day = DAY_MS // STEP_MS
    first = T_END - (rounds - 1) * STEP_MS
    for day in range(rounds // per_day):
        vals = np.empty((per_day, w.n))
        for k in range(per_day):
            vals[k] = w.step()
        ts = first + (day * per_day + np.arange(per_day, dtype=np.int64)) * STEP_MS
        # series-major, as one series' samples follow each other
        sid = np.repeat(np.arange(w.n, dtype=np.int64), per_day)
        parsed = ParsedFile(w.labels, sid, np.tile(ts, w.n), vals.T.reshape(-1).copy())
        write_blocks(parsed, DATA / "tsdb", zstd_level=3)
        print(f"day {day + 1}: {w.n * per_day:,} samples", flush=True)
    compact_as_served()
    (DATA / "stamp").write_text(STAMP)
    print(f"built {w.n:,} series x {rounds} samples in {time.perf_counter() - started:.0f}s", flush=True)


def compact_as_served() -> None:
    """Backfilled 2 h blocks compacted the way a running guardia's maintenance compacts them
    (2 h -> 6 h -> 18 h with the default 15 d retention): the data directory a team's guardia
    has after 8 days, 13 blocks rather than 104."""
    from guardia.storage.tsdb import TSDB

    db = TSDB.open(DATA / "tsdb")
    try:
        rep = db.maintain()
        left = len(db.blocks)
    finally:
        db.close()
    print(f"{len(rep.compacted)} compactions: {left} blocks", flush=True)


def run_once() -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "guardia.cli.main", "report", "ops", "--data-dir", str(DATA / "tsdb"),
           "--window", "24h", "--baseline", "7d", "--end", str(T_END // 1000), "--format", "md"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"report failed: {proc.stderr}")
    return took, cpu, proc.stdout


def main() -> None:
    build_store()
    times, cpus = [], []
    out = ""
    for _ in range(int(os.environ.get("GUARDIA_BENCH_RUNS", "3"))):
        took, cpu, out = run_once()
        times.append(took)
        cpus.append(cpu)
        print(f"run: {took:.2f}s wall, {cpu:.2f}s CPU", flush=True)
    score = next((line for line in out.splitlines() if line.startswith("**Score:**")), "")
    print(f"report: {len(out):,} bytes of Markdown; {score}")
    print("report_ops: 24h report, 7d baseline, 100,000 series: "
          f"median {statistics.median(times):.2f}s wall, "
          f"{statistics.median(cpus):.2f}s CPU (runs {', '.join(f'{t:.1f}' for t in times)} s; "
          f"load average {os.getloadavg()[0]:.1f}; target < 5 s)")


if __name__ == "__main__":
    main()
