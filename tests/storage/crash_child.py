"""Child process for the crash test: appends forever, printing each acknowledged commit.

Run as ``python crash_child.py DATA_DIR FSYNC_POLICY``.  After ``commit`` returns, the
timestamp is printed; the parent SIGKILLs this process at a random moment and checks
that every printed timestamp is in the store after reopening.
"""

from __future__ import annotations

import sys

import numpy as np

from guardia.model import Labels
from guardia.storage.tsdb import TSDB, TSDBOptions

N = 50


def main() -> None:
    path, policy = sys.argv[1], sys.argv[2]
    opts = TSDBOptions(block_range_ms=60_000, retention_ms=0, chunk_slots=4, wal_fsync=policy)  # type: ignore[arg-type]
    db = TSDB.open(path, opts)
    app = db.appender()
    refs = np.array([app.ref(Labels.of(__name__="c", i=str(i))) for i in range(N)])
    last = db.head.maxt if db.head.maxt >= db.head.mint else -1000
    if db.blocks:
        last = max(last, max(b.maxt for b in db.blocks))
    t = (last // 1000 + 1) * 1000
    i = 0
    while True:
        app.append_batch(refs, t, np.full(N, float(t)))
        app.commit()
        print(t, flush=True)
        if i % 23 == 0:
            db.maintain()
        t += 1000
        i += 1


if __name__ == "__main__":
    main()
