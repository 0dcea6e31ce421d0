"""Ingest rate of the embedded store: samples/s through ``append_batch`` + ``commit``.

100,000 series (1,000 targets × 100 realistic series), 15 s scrape interval, WAL on
(default group commit).  Two shapes are measured: one commit per target scrape (1,000
samples, what the scrape loop does) and one commit per scrape round of all targets
(100,000 samples).  Values are pre-generated so only the store is timed.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from benchmarks._data import Workload
from guardia.storage.tsdb import TSDB

ROUNDS = 48


def run(per_target: bool, rounds: int = ROUNDS) -> float:
    w = Workload(1000, seed=1)
    values = np.stack([w.step() for _ in range(rounds)])
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d)
        app = db.appender()
        refs = np.array([app.ref(lb) for lb in w.labels], dtype=np.int64)
        by_target = [np.nonzero(w.target_arr == t)[0] for t in range(w.n_targets)]
        t0 = time.perf_counter()
        for k in range(rounds):
            ts = w.scrape_times(k)
            row = values[k]
            if per_target:
                for t, idx in enumerate(by_target):
                    app.append_batch(refs[idx], int(ts[t]), row[idx])
                    app.commit()
            else:
                app.append_batch(refs, int(ts[0]), row)
                app.commit()
        dt = time.perf_counter() - t0
        db.close()
    return rounds * w.n / dt


def main() -> None:
    round_rate = run(per_target=False)
    print(f"one commit per scrape round (100,000 samples): {round_rate:,.0f} samples/s")
    target_rate = run(per_target=True, rounds=24)
    print(f"one commit per target scrape (100 samples):  {target_rate:,.0f} samples/s")
    print(f"tsdb_ingest: {round_rate:,.0f} samples/s (100k-sample commits), "
          f"{target_rate:,.0f} samples/s (100-sample commits)")


if __name__ == "__main__":
    main()
