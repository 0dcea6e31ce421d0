"""Every sample of a data directory as text, as ``promtool tsdb dump`` writes it.

One line per sample, series in label order and each series' samples in time order:
``{__name__="up", job="node"} 1 1700000000000`` (the labels as Prometheus prints a label set,
the value as Go's ``%g``, the timestamp in milliseconds).  A native histogram sample prints
as Prometheus prints a histogram (``{count:3, sum:4.5, [-1,-0.5):1, (1,2]:2}``), as newer
promtool versions do; floats print alike, so a dump of the same data from guardia and from
Prometheus compares line for line.  Blocks, the head (WAL) and the native histogram range
files are all read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from guardia.model import Matcher
from guardia.model.gostrings import labels_string
from guardia.model.histogram import go_g
from guardia.storage.tsdb.db import TSDB


def dump_lines(db: TSDB, matchers: Sequence[Matcher], mint: int, maxt: int) -> Iterator[str]:
    """The lines of the samples of the series ``matchers`` select, in ``[mint, maxt]``."""
    q = db.querier(mint, maxt)
    try:
        found = q.select(matchers, sort=True)
        for s in found:
            head = labels_string(s.labels)
            hs = s.histograms.tolist() if s.histograms is not None else None
            for k, (t, v) in enumerate(zip(s.timestamps.tolist(), s.values.tolist(), strict=True)):
                h = hs[k] if hs is not None else None
                text = str(h) if h is not None else ("NaN" if math.isnan(v) else go_g(v))
                yield f"{head} {text} {t}"
    finally:
        q.close()
