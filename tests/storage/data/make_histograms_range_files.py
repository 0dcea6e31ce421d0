"""Writes ``histograms_range_files/``: a data directory as guardia wrote it before native
histograms went into blocks (range files ``histograms/<start>-<end>.nh`` beside the blocks,
the newest samples in the WAL).  Run with the old code on the path, once:

    PYTHONPATH=<a checkout of ae80d74>/src python3 tests/storage/data/make_histograms_range_files.py

The test that opens it (``test_histblocks.py``) rebuilds the same samples with
``expected_samples`` and compares them bit for bit.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

MIN = 60_000
R = 20 * MIN  # the block range the directory was written with


def expected_samples():  # type: ignore[no-untyped-def]
    """(labels as a dict, timestamp, FloatHistogram) of every sample written, in order."""
    from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, GAUGE, FloatHistogram

    out = []
    for i in range(1, 91):
        t = i * MIN
        out.append(({"__name__": "rpc_seconds", "job": "api"}, t,
                    FloatHistogram(schema=3, count=float(3 * i), sum=1.25 * i, zero_threshold=2.0**-128,
                                   zero_count=float(i), positive={8: float(i), 9: 0.0, 12: float(i)},
                                   negative={-2: 0.0})))
        out.append(({"__name__": "rpc_seconds", "job": "batch"}, t,
                    FloatHistogram(schema=-4, count=0.5 * i, sum=-3.25 * i, zero_count=0.25 * i,
                                   negative={-3: 0.125 * i, 5: 0.125 * i}, counter_reset_hint=GAUGE)))
        out.append(({"__name__": "nhcb_seconds", "job": "api"}, t,
                    FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=float(i),
                                   sum=math.nan if i == 7 else 0.1 * i, custom_values=[0.1, 1.0, 10.0],
                                   positive={0: float(i // 2), 3: float(i - i // 2)})))
    return out


def main() -> None:
    from guardia.model import Labels
    from guardia.storage.tsdb import TSDB, TSDBOptions

    dest = Path(__file__).parent / "histograms_range_files"
    shutil.rmtree(dest, ignore_errors=True)
    db = TSDB.open(dest, TSDBOptions(block_range_ms=R))
    by_t: dict[int, list] = {}  # type: ignore[type-arg]
    for lb, t, h in expected_samples():
        by_t.setdefault(t, []).append((lb, h))
    for t in sorted(by_t):
        app = db.appender()
        for lb, h in by_t[t]:
            app.append_histogram(Labels(lb), t, h)
        app.append(Labels({"__name__": "up", "job": "api"}), t, 1.0)
        app.commit()
        if t % R == 0:
            db.maintain()
    db.close()
    (dest / "lock").unlink(missing_ok=True)
    print(sorted(p.name for p in (dest / "histograms").iterdir()), file=sys.stderr)


if __name__ == "__main__":
    main()
