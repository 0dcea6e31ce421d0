"""Head commit cost for small batches: the remote-write shape.

10,000 existing series receive 2,000-sample commits (a remote-write request), each at a
new timestamp; every series gets one sample per 15 s, as a Prometheus agent forwarding
its scrapes would send them.  ``maintain`` runs every 20 commits (about once a minute of
data), so window compression and span merging are paid for as on a server.  The figure
is samples per CPU second (the machine is shared; CPU time drifts less than wall time).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from guardia.model import Labels
from guardia.storage.tsdb import TSDB

SERIES = 10_000
BATCH = 2_000
COMMITS = 2_000
STEP_MS = 15_000 * BATCH // SERIES  # every series once per 15 s


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d)
        app = db.appender()
        sets = [Labels.of(__name__=f"m{i % 50}", instance=f"i{i // 50}", job="rw") for i in range(SERIES)]
        refs = np.array([app.ref(lb) for lb in sets], dtype=np.int64)
        app.commit()
        batches = [refs[j * BATCH : (j + 1) * BATCH] for j in range(SERIES // BATCH)]
        values = np.random.default_rng(1).random(BATCH)
        t0 = 1_700_000_000_000
        c0, w0 = time.process_time(), time.perf_counter()
        for k in range(COMMITS):
            app.append_batch(batches[k % len(batches)], t0 + k * STEP_MS, values)
            app.commit()
            if k % 20 == 19:
                db.maintain()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        db.close()
    n = COMMITS * BATCH
    print(f"{COMMITS} commits of {BATCH} samples: {cpu / COMMITS * 1e6:.0f} us CPU per commit, "
          f"{n / wall:,.0f} samples/s wall")
    print(f"tsdb_small_commits: {n / cpu:,.0f} samples per CPU second (2,000-sample commits)")


if __name__ == "__main__":
    main()
