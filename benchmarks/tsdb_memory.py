"""RSS bytes per active series with a full 2 h head.

100,000 realistic series (``_data.Workload``) scraped every 15 s for 2 h (480 rounds)
into a store with the default options; RSS growth of the process divided by the series.
The workload's own label objects exist before the baseline is taken.
"""

from __future__ import annotations

import gc
import tempfile
import time

import numpy as np

from benchmarks._data import Workload
from guardia.storage.tsdb import TSDB

ROUNDS = 480


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    w = Workload(1000, seed=2)
    gc.collect()
    with tempfile.TemporaryDirectory() as d:
        base = rss()
        db = TSDB.open(d)
        app = db.appender()
        refs = np.array([app.ref(lb) for lb in w.labels], dtype=np.int64)
        t0 = time.perf_counter()
        for k in range(ROUNDS):
            app.append_batch(refs, int(w.scrape_times(k)[0]), w.step())
            app.commit()
            if k % 4 == 3:
                db.maintain()  # the server calls this about once a minute
        dt = time.perf_counter() - t0
        gc.collect()
        grown = rss() - base
        st = db.stats()
        print(f"{st['head_series']} series, {st['head_samples']} samples in head "
              f"({st['head_chunk_bytes'] / st['head_samples']:.2f} bytes/sample compressed), "
              f"ingest {dt:.1f}s")
        db.close()
    print(f"tsdb_memory: {grown / w.n:,.0f} bytes RSS per active series (2 h head, 15 s interval)")


if __name__ == "__main__":
    main()
