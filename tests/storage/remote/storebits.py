"""What a store holds, bit for bit, for tests that feed two receive paths (histogram objects
and histogram columns) the same requests and require the same result to the last bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from guardia.model import Matcher, MatchType
from guardia.model.histogram import FloatHistogram
from guardia.storage.tsdb import TSDB


def histogram_bits(h: FloatHistogram | None) -> Any:
    """A histogram as integers (each float's bits), so -0.0, NaN payloads and the last ulp count."""
    if h is None:
        return None

    def f(x: float) -> int:
        return int(np.float64(x).view(np.uint64))

    return (h.schema, f(h.count), f(h.sum), f(h.zero_threshold), f(h.zero_count),
            [(i, f(c)) for i, c in h.positive.items()], [(i, f(c)) for i, c in h.negative.items()],
            [f(v) for v in h.custom_values], h.counter_reset_hint)


def stored_bits(db: TSDB) -> list[Any]:
    """Every series: labels, timestamps, float bits and histogram bits."""
    q = db.querier(-(2**62), 2**62)
    try:
        return [(s.labels, s.timestamps.tolist(), s.values.view(np.uint64).tolist(),
                 None if s.histograms is None else [histogram_bits(h) for h in s.histograms.tolist()])
                for s in q.select([Matcher("__name__", MatchType.REGEX, ".+")])]
    finally:
        q.close()


def wal_bytes(path: Path) -> list[bytes]:
    """The WAL's files under a data directory, in order."""
    return [p.read_bytes() for p in sorted((path / "wal").rglob("*")) if p.is_file()]
