"""A small, obviously-correct in-memory engine.

It is the reference the embedded TSDB is tested against and the store PromQL and rule
unit tests run on; it is not built for volume (one Python list per series).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.model.histogram import FloatHistogram
from guardia.model.samples import STALE_NAN, is_stale_nan
from guardia.storage.interface import (
    AppendStats,
    Querier,
    SelectHints,
    Series,
    SeriesRef,
    SeriesSet,
    check_selectable,
    hinted_range,
)


class _SeriesData:
    __slots__ = ("labels", "ts", "vs")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.ts: list[int] = []
        # A float, or a native histogram sample.
        self.vs: list[float | FloatHistogram] = []

    def insert(self, t: int, v: float | FloatHistogram) -> bool:
        """Insert keeping order; False for a duplicate timestamp with a different value."""
        i = bisect.bisect_left(self.ts, t)
        if i < len(self.ts) and self.ts[i] == t:
            old = self.vs[i]
            if isinstance(old, FloatHistogram) or isinstance(v, FloatHistogram):
                return old == v
            return old == v or (old != old and v != v and is_stale_nan(old) == is_stale_nan(v))
        self.ts.insert(i, t)
        self.vs.insert(i, v)
        return True


class MemoryStorage:
    def __init__(self) -> None:
        self._series: list[_SeriesData] = []
        self._by_labels: dict[Labels, SeriesRef] = {}

    def _ref(self, labels: Labels) -> SeriesRef:
        ref = self._by_labels.get(labels)
        if ref is None:
            ref = len(self._series)
            self._series.append(_SeriesData(labels))
            self._by_labels[labels] = ref
        return ref

    def appender(self) -> MemoryAppender:
        return MemoryAppender(self)

    def querier(self, mint: int, maxt: int) -> MemoryQuerier:
        return MemoryQuerier(self, mint, maxt)

    def close(self) -> None:
        pass

    def add_series(self, labels: Labels, timestamps: Sequence[int], values: Sequence[float]) -> None:
        """Test helper: load a whole series at once."""
        s = self._series[self._ref(labels)]
        for t, v in zip(timestamps, values, strict=True):
            s.insert(int(t), float(v))


class MemoryAppender:
    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._pending: list[tuple[SeriesRef, int, float | FloatHistogram]] = []

    def ref(self, labels: Labels) -> SeriesRef:
        return self._storage._ref(labels)

    def append(self, ref: SeriesRef | Labels, t: int, v: float) -> None:
        r = self._storage._ref(ref) if isinstance(ref, Labels) else ref
        self._pending.append((r, int(t), float(v)))

    def append_histogram(self, ref: SeriesRef | Labels, t: int, h: FloatHistogram) -> None:
        """A native histogram sample; one whose sum is the staleness marker (Prometheus's
        stale histogram) is kept as the float marker, which ends the series in queries."""
        r = self._storage._ref(ref) if isinstance(ref, Labels) else ref
        self._pending.append((r, int(t), STALE_NAN if is_stale_nan(h.sum) else h))

    def append_batch(
        self,
        refs: npt.NDArray[np.int64] | Sequence[SeriesRef],
        t: int,
        values: npt.NDArray[np.float64] | Sequence[float],
    ) -> None:
        for r, v in zip(list(refs), list(values), strict=True):
            self._pending.append((int(r), int(t), float(v)))

    def commit(self) -> AppendStats:
        stats = AppendStats()
        for r, t, v in self._pending:
            if self._storage._series[r].insert(t, v):
                stats.appended += 1
            else:
                stats.duplicate += 1
        self._pending = []
        return stats

    def rollback(self) -> None:
        self._pending = []


class MemoryQuerier(Querier):
    def __init__(self, storage: MemoryStorage, mint: int, maxt: int) -> None:
        self._storage = storage
        self.mint = mint
        self.maxt = maxt

    def _matching(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[_SeriesData]:
        out = []
        for s in self._storage._series:
            if all(m.matches(s.labels.get(m.name)) for m in matchers):
                lo = bisect.bisect_left(s.ts, mint)
                if lo < len(s.ts) and s.ts[lo] <= maxt:
                    out.append(s)
        return out

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *, sort: bool = False
    ) -> SeriesSet:
        check_selectable(matchers)
        mint, maxt = hinted_range(self, hints)
        found = self._matching(matchers, mint, maxt)
        if sort:
            found.sort(key=lambda x: x.labels)
        if hints is not None and hints.labels_only:
            return SeriesSet.labels_only([s.labels for s in found])
        out = []
        for s in found:
            lo = bisect.bisect_left(s.ts, mint)
            hi = bisect.bisect_right(s.ts, maxt)
            vs = s.vs[lo:hi]
            hists = None
            if any(isinstance(v, FloatHistogram) for v in vs):
                hists = np.empty(len(vs), dtype=object)
                hists[:] = [v if isinstance(v, FloatHistogram) else None for v in vs]
                vs = [math.nan if isinstance(v, FloatHistogram) else v for v in vs]
            ts = np.array(s.ts[lo:hi], dtype=np.int64)
            out.append(Series(s.labels, ts, np.array(vs, dtype=np.float64), hists))
        return SeriesSet.of(out)

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        for s in self._matching(matchers, self.mint, self.maxt):
            names.update(s.labels.names())
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values = {s.labels.get(name) for s in self._matching(matchers, self.mint, self.maxt)}
        values.discard("")
        return sorted(values)

    def close(self) -> None:
        pass
