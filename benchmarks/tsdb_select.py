"""Time to select 1,000 series × 2 h, from the head and from a block.

100,000 realistic series (1,000 targets) with 2 h of 15 s samples.  The selector is
``http_request_duration_seconds_bucket{handler="/api/users", le=~"0.1"}`` over
all targets: 1,000 series spread across every target, the shape of a dashboard query,
not a contiguous range of refs.  Median of several runs; first run excluded (warm-up).
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


def timed(db: TSDB, mint: int, maxt: int, runs: int = 7) -> tuple[float, int, int]:
    times = []
    cpu = []
    n = samples = 0
    for _ in range(runs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        res = db.querier(mint, maxt).select(MATCHERS)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n, samples = len(res), sum(len(s) for s in res)
    print(f"  (median CPU time {statistics.median(cpu[1:]) * 1000:.1f} ms; the machine is shared)")
    return statistics.median(times[1:]), n, samples


def main() -> None:
    w = Workload(1000, seed=3)
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
        # Push the head past 1.5 block ranges so these 2 h are cut into a block.
        for k in range(rounds, rounds + 250):
            app.append_batch(refs, int(w.scrape_times(k)[0]), w.step())
            app.commit()
        db.maintain()
        assert db.blocks, "no block was cut"
        b = db.blocks[0]
        block_s, n2, samples2 = timed(db, b.mint, b.maxt)
        print(f"block: {n2} series, {samples2} samples in {block_s * 1000:.1f} ms")
        db.close()
    print(f"tsdb_select: 1,000 series x 2 h: head {head_s * 1000:.1f} ms, block {block_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
