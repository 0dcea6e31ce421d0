"""Child process for the native histogram crash test: appends histograms (and floats)
forever, printing each acknowledged commit's timestamp, and kills itself with SIGKILL at
one point of a head cut.

Run as ``python crash_hist_child.py DATA_DIR POINT``.  ``POINT`` is where the third cut
dies: ``block_written`` (the block is in place, the head still holds its samples and the
WAL has not been checkpointed), ``histogram_part`` (the block's histogram pages are
written, its index not: a ``.tmp`` block directory is left), ``checkpoint`` (the
checkpoint is being written) or ``none`` (the parent kills it at a random moment).
"""

from __future__ import annotations

import math
import os
import signal
import sys

from guardia.model import Labels
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, FloatHistogram
from guardia.storage.tsdb import TSDB, TSDBOptions, histblock, wal
from guardia.storage.tsdb import db as dbmod

SERIES = 3


def hist(s: int, t: int) -> FloatHistogram:
    """The histogram series ``s`` holds at ``t`` (the parent rebuilds it to compare)."""
    k = t // 1000
    if s == 0:  # integer, schema 3, a bucket that appears later
        pos = {8: float(k), 9: float(2 * k)}
        if k % 50 > 25:
            pos[11] = 1.0
        return FloatHistogram(schema=3, count=float(sum(pos.values()) + k), sum=0.5 * k,
                              zero_threshold=2.0**-128, zero_count=float(k), positive=pos)
    if s == 1:  # float, schema -4, gauge
        return FloatHistogram(schema=-4, count=k / 3, sum=-k / 7, negative={-1: k / 3}, counter_reset_hint=3)
    return FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=float(k),
                          sum=math.nan if k % 9 == 0 else k * 0.1, custom_values=[0.5, 5.0],
                          positive={0: float(k // 2), 2: float(k - k // 2)})


def _die_on(module: object, name: str, nth: int) -> None:
    real = getattr(module, name)
    calls = [0]

    def wrapper(*a: object, **kw: object) -> object:
        calls[0] += 1
        if name == "finish" and calls[0] >= nth:
            os.kill(os.getpid(), signal.SIGKILL)
        out = real(*a, **kw)
        if calls[0] >= nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    setattr(module, name, wrapper)


def main() -> None:
    path, point = sys.argv[1], sys.argv[2]
    if point == "block_written":
        _die_on(dbmod, "write_block", 3)
    elif point == "histogram_part":
        _die_on(histblock.HistogramPartWriter, "finish", 3)
    elif point == "checkpoint":
        _die_on(wal, "write_checkpoint", 3)
    opts = TSDBOptions(block_range_ms=60_000, retention_ms=0, chunk_slots=4, wal_fsync="group")
    db = TSDB.open(path, opts)
    newest = max([db.histograms.max_t, db.head.maxt, *(b.maxt for b in db.blocks)])
    t = (max(newest, 0) // 1000 + 1) * 1000
    i = 0
    while True:
        app = db.appender()
        for s in range(SERIES):
            app.append_histogram(Labels.of(__name__="h", s=str(s)), t, hist(s, t))
        app.append(Labels.of(__name__="up"), t, 1.0)
        app.commit()
        print(t, flush=True)
        if i % 7 == 0:
            db.maintain()
        t += 1000
        i += 1


if __name__ == "__main__":
    main()
