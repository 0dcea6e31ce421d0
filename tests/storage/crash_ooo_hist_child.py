"""Child process for the out-of-order native histogram crash test: appends each step's
histograms in order, then one commit of samples a few minutes back (out of order, and below
the head once it has been cut), printing each acknowledged commit's timestamps, with
maintenance (cuts, checkpoints, compaction) now and then, until the parent kills it.

Run as ``python crash_ooo_hist_child.py DATA_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from guardia.storage.tsdb import TSDB, TSDBOptions
from tests.storage.test_ooo_histograms import KINDS, hist, series

STEP = 10_000  # in-order samples on this grid; out-of-order ones off it
BACK = 7 * 60_000 + 5_000
OPTIONS = TSDBOptions(block_range_ms=120_000, retention_ms=0, out_of_order_time_window_ms=3_600_000,
                      wal_fsync="group")


def main() -> None:
    db = TSDB.open(sys.argv[1], OPTIONS)
    newest = max([db.histograms.max_t, db.head.maxt, *(b.maxt for b in db.blocks)])
    t = (max(newest, 0) // STEP + 1) * STEP + BACK
    i = 0
    while True:
        app = db.appender()
        for kind in KINDS:
            app.append_histogram(series(kind), t, hist(kind, t))
        app.commit()
        print(t, flush=True)
        late = t - BACK
        app = db.appender()
        for kind in KINDS:
            app.append_histogram(series(kind), late, hist(kind, late))
        st = app.commit()
        if st.appended == len(KINDS):
            print(late, flush=True)
        if i % 5 == 0:
            db.maintain()
        t += STEP
        i += 1


if __name__ == "__main__":
    main()
