"""``TSDB``: the embedded store behind the ``Storage`` protocol.

One lock serialises appends, cuts and index reads; numpy does the heavy lifting inside
it.  Order of a commit: series records and samples go to the WAL first, then into the
head, so whatever ``commit`` returned for is replayed after a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry

from guardia.model import Labels
from guardia.storage.interface import AppendError, AppendStats, SeriesRef
from guardia.storage.tsdb.head import Head
from guardia.storage.tsdb.metrics import TSDBMetrics
from guardia.storage.tsdb.options import TSDBOptions
from guardia.storage.tsdb.querier import SeriesSource, TSDBQuerier

__all__ = ["TSDB", "TSDBAppender", "TSDBQuerier"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TSDB:
    """A durable time-series store in one directory."""

    def __init__(self, path: Path, options: TSDBOptions, registry: CollectorRegistry | None) -> None:
        self.path = path
        self.options = options
        self.metrics = TSDBMetrics(registry)
        self._lock = threading.RLock()
        self.head = Head(options)
        self._closed = False

    @classmethod
    def open(
        cls,
        path: str | Path,
        options: TSDBOptions | None = None,
        registry: CollectorRegistry | None = None,
    ) -> TSDB:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        return cls(p, options or TSDBOptions(), registry)

    # --- Storage protocol -------------------------------------------------------------------

    def appender(self) -> TSDBAppender:
        return TSDBAppender(self)

    def querier(self, mint: int, maxt: int) -> TSDBQuerier:
        return TSDBQuerier(self, mint, maxt)

    def close(self) -> None:
        self._closed = True

    # --- internals used by appender and querier ---------------------------------------------

    def _ref(self, labels: Labels) -> SeriesRef:
        with self._lock:
            ref, created = self.head.ref_for(labels)
            if created:
                self.metrics.head_series_created.inc()
                self.metrics.head_series.set(self.head.num_series)
            return ref

    def _commit(self, batches: list[tuple[I64, int | I64, F64]]) -> AppendStats:
        stats = AppendStats()
        with self._lock:
            for refs, t, vs in batches:
                self.head.append(refs, t, vs, stats)
            self._count(stats)
        return stats

    def _count(self, stats: AppendStats) -> None:
        m = self.metrics
        if stats.appended:
            m.samples_appended.labels("float").inc(stats.appended)
        if stats.out_of_order:
            m.out_of_order.labels("float").inc(stats.out_of_order)
        if stats.out_of_bounds:
            m.out_of_bound.labels("float").inc(stats.out_of_bounds)
        if stats.duplicate:
            m.duplicate.inc(stats.duplicate)
        h = self.head
        m.head_chunks.set(len(h.pages))
        if h.maxt >= h.mint:
            m.head_min_time.set(h.mint)
            m.head_max_time.set(h.maxt)

    def _sources_for(self, mint: int, maxt: int) -> list[SeriesSource]:
        return [self.head]


class TSDBAppender:
    """Queues samples until ``commit``; nothing is visible before it returns."""

    def __init__(self, db: TSDB) -> None:
        self._db = db
        self._batches: list[tuple[I64, int | I64, F64]] = []
        self._one_r: list[int] = []
        self._one_t: list[int] = []
        self._one_v: list[float] = []

    def ref(self, labels: Labels) -> SeriesRef:
        return self._db._ref(labels)

    def append(self, ref: SeriesRef | Labels, t: int, v: float) -> None:
        r = self._db._ref(ref) if isinstance(ref, Labels) else int(ref)
        if not 0 <= r < self._db.head.num_series:
            raise AppendError(f"unknown series ref {r}: get refs from Appender.ref(labels)")
        self._one_r.append(r)
        self._one_t.append(int(t))
        self._one_v.append(float(v))

    def append_batch(
        self,
        refs: npt.NDArray[np.int64] | Sequence[SeriesRef],
        t: int,
        values: npt.NDArray[np.float64] | Sequence[float],
    ) -> None:
        r = np.asarray(refs, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        if r.ndim != 1 or r.shape != v.shape:
            raise AppendError(f"append_batch needs as many values as refs (got {r.shape} and {v.shape})")
        if r.size and (int(r.min()) < 0 or int(r.max()) >= self._db.head.num_series):
            raise AppendError("append_batch got an unknown series ref: get refs from Appender.ref(labels)")
        self._batches.append((r, int(t), v))

    def commit(self) -> AppendStats:
        batches = self._batches
        if self._one_r:
            batches = [
                *batches,
                (
                    np.array(self._one_r, dtype=np.int64),
                    np.array(self._one_t, dtype=np.int64),
                    np.array(self._one_v, dtype=np.float64),
                ),
            ]
        self.rollback()
        if not batches:
            return AppendStats()
        return self._db._commit(batches)

    def rollback(self) -> None:
        self._batches = []
        self._one_r = []
        self._one_t = []
        self._one_v = []
