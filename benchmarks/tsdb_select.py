"""Time to select 1,000 series × 2 h, and one instance of a 10,000-series job × 2 h, from
the head and from a block.

100,000 realistic series (1,000 targets) with 2 h of 15 s samples.  The first selector is
``http_request_duration_seconds_bucket{handler="/api/users", le=~"0.1"}`` over
all targets: 1,000 series spread across every target, the shape of a dashboard query,
not a contiguous range of refs.  The second is ``{job="batch", instance="10.0.0.10:8000"}``:
every tenth target belongs to job ``batch`` (100 targets, 10,000 series), and the selector
picks the 100 series of one of them.  Series are stored job-first (name, job, other labels,
instance), so those 100 series are a row or two in each of the pages that hold the job:
the case that page framing (decoding only the frames holding the wanted rows) is for.
Median of several runs; first run excluded (warm-up).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import numpy as np

from benchmarks._data import Workload
from guardia.model import Matcher
from guardia.storage.tsdb import TSDB, TSDBOptions

MATCHERS = [
    Matcher.equal("__name__", "http_request_duration_seconds_bucket"),
    Matcher.equal("handler", "/api/users"),
    Matcher.parse("le", "=~", "0.1"),
]
INSTANCE = [Matcher.equal("job", "batch"), Matcher.equal("instance", "10.0.0.10:8000")]


def job_of(t: int) -> str:
    return "batch" if t % 10 == 0 else ("api" if t % 3 else "worker")


def timed(
    db: TSDB, mint: int, maxt: int, runs: int = 7, matchers: list[Matcher] = MATCHERS
) -> tuple[float, int, int]:
    times = []
    cpu = []
    n = samples = 0
    for _ in range(runs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        res = db.querier(mint, maxt).select(matchers)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n, samples = len(res), sum(len(s) for s in res)
    print(f"  (median CPU time {statistics.median(cpu[1:]) * 1000:.1f} ms; the machine is shared)")
    return statistics.median(times[1:]), n, samples


def main() -> None:
    w = Workload(1000, seed=3, job_of=job_of)
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d, TSDBOptions(retention_ms=0))
        app = db.appender()
        refs = np.array([app.ref(lb) for lb in w.labels], dtype=np.int64)
        rounds = 480
        for k in range(rounds):
            app.append_batch(refs, int(w.scrape_times(k)[0]), w.step())
            app.commit()
            if k % 4 == 3:
                db.maintain()
        t_first = int(w.scrape_times(0)[0])
        t_last = int(w.scrape_times(rounds - 1)[0])
        head_s, n, samples = timed(db, t_first, t_last)
        print(f"head:  {n} series, {samples} samples in {head_s * 1000:.1f} ms")
        head_i, n, samples = timed(db, t_first, t_last, matchers=INSTANCE)
        print(f"head, one instance of a 10,000-series job: {n} series, {samples} samples "
              f"in {head_i * 1000:.2f} ms")
        # Push the head past 1.5 block ranges so these 2 h are cut into a block.
        for k in range(rounds, rounds + 250):
            app.append_batch(refs, int(w.scrape_times(k)[0]), w.step())
            app.commit()
        db.maintain()
        assert db.blocks, "no block was cut"
        b = db.blocks[0]
        block_s, n2, samples2 = timed(db, b.mint, b.maxt)
        print(f"block: {n2} series, {samples2} samples in {block_s * 1000:.1f} ms")
        block_i, n2, samples2 = timed(db, b.mint, b.maxt, matchers=INSTANCE)
        print(f"block, one instance of a 10,000-series job: {n2} series, {samples2} samples "
              f"in {block_i * 1000:.2f} ms")
        db.close()
    print(
        f"tsdb_select: 1,000 series x 2 h: head {head_s * 1000:.1f} ms, "
        f"block {block_s * 1000:.1f} ms; one instance of a 10,000-series job x 2 h: "
        f"head {head_i * 1000:.2f} ms, block {block_i * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
