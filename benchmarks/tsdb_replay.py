"""WAL replay rate on restart: samples per second brought back into the head.

100,000 realistic series, 45 minutes of 15 s scrapes (18 million samples) written through
the WAL, then the store is closed and reopened; the reopen is timed.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from benchmarks._data import Workload
from guardia.storage.tsdb import TSDB

ROUNDS = 180


def main() -> None:
    w = Workload(1000, seed=5)
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d)
        app = db.appender()
        refs = np.array([app.ref(lb) for lb in w.labels], dtype=np.int64)
        for k in range(ROUNDS):
            app.append_batch(refs, int(w.scrape_times(k)[0]), w.step())
            app.commit()
        db.close()
        t0 = time.perf_counter()
        db2 = TSDB.open(d)
        dt = time.perf_counter() - t0
        n = db2.replay.samples
        print(f"replayed {n} samples of {db2.head.num_series} series in {dt:.2f}s "
              f"({db2.replay.records} records)")
        db2.close()
    print(f"tsdb_replay: {n / dt:,.0f} samples/s")


if __name__ == "__main__":
    main()
