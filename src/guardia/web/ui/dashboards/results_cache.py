"""Panel query results kept between loads, so a reload or an auto-refresh only computes the
steps that can have changed.

PromQL evaluates each step of a range query on its own, so the value at a step depends only
on samples at or before it.  Once ``now`` is past a step by more than the time samples take
to arrive (``settle_ms``: two scrape intervals, a minute at least), that step's value is final
and can be reused.  Dashboard steps are aligned to multiples of the step (as Grafana aligns
them), so the same query over a range shifted by a few seconds lands on the same steps: a
reload of a 24 h dashboard reads and evaluates only its last few steps.  (Thanos's and
Cortex's query frontends cache results by the same reasoning.)

A result computed for a view (one ``now``) is also reused whole by the same view, so two
panels with the same query, or the page's own refresh of a panel, cost one evaluation.
Results are bounded in points and dropped least-recently-used, and reused for ten minutes
at most, so samples written late into settled steps (a backfill, a remote-write sender
catching up) show within that time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.storage.interface import Series
from guardia.web.ui.dashboards.reader import MetricsReader

MAX_POINTS = 3_000_000  # ~50 MB of steps and values
MAX_AGE_S = 600.0


@dataclass
class Answer:
    """A query result in the shape panels read (``type``, ``value``, ``warnings``)."""

    type: str
    value: Any
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Range:
    start: int
    end: int
    step: int
    now: int
    final_until: int  # the last step whose value cannot change any more
    series: dict[Labels, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    warnings: list[str]
    made: float = field(default_factory=time.monotonic)

    @property
    def points(self) -> int:
        return sum(len(t) for t, _ in self.series.values()) + 1


@dataclass
class _Instant:
    t: int
    now: int
    final: bool
    answer: Any

    points = 1


class ResultsCache:
    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], _Range | _Instant] = OrderedDict()
        self.computed_steps = 0  # steps evaluated (for tests and the benchmark)
        self.reused_steps = 0

    def _get(self, key: tuple[str, int]) -> _Range | _Instant | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def _put(self, key: tuple[str, int], item: _Range | _Instant) -> None:
        with self._lock:
            old = self._items.get(key)
            if old is not None and old.now > item.now:
                return  # a late answer for an older view must not replace a newer one
            self._items[key] = item
            self._items.move_to_end(key)
            held = sum(i.points for i in self._items.values())
            while held > self.max_points and len(self._items) > 1:
                _, gone = self._items.popitem(last=False)
                held -= gone.points

    def range(self, reader: MetricsReader, expr: str, start: int, end: int, step: int, now: int,
              settled_before: int) -> Answer:
        key = (expr, step)
        old = self._get(key)
        keep_until = start - step  # the last reused step
        fresh_enough = isinstance(old, _Range) and time.monotonic() - old.made < MAX_AGE_S
        aligned = isinstance(old, _Range) and old.start <= start and (start - old.start) % step == 0
        if isinstance(old, _Range) and fresh_enough and aligned:
            keep_until = max(start - step, min(end, old.end if old.now == now else old.final_until))
        reused: dict[Labels, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        warnings: list[str] = []
        if isinstance(old, _Range) and fresh_enough and keep_until >= start:
            for ls, (t, v) in old.series.items():
                a = int(np.searchsorted(t, start, side="left"))
                b = int(np.searchsorted(t, keep_until, side="right"))
                if b > a:
                    reused[ls] = (t[a:b], v[a:b])
            warnings.extend(old.warnings)
            self.reused_steps += (keep_until - start) // step + 1
        tail_start = keep_until + step
        fresh: dict[Labels, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        if tail_start <= end:
            res = reader.range(expr, tail_start, end, step)
            if res.type != "matrix":
                return Answer(res.type, res.value, list(getattr(res, "warnings", ()) or ()))
            for s in res.value:
                fresh[s.labels] = (np.asarray(s.timestamps, dtype=np.int64),
                                   np.asarray(s.values, dtype=np.float64))
            warnings.extend(w for w in getattr(res, "warnings", ()) or () if w not in warnings)
            self.computed_steps += (end - tail_start) // step + 1
        merged = dict(reused)
        for ls, (t, v) in fresh.items():
            had = merged.get(ls)
            merged[ls] = (t, v) if had is None else (np.concatenate([had[0], t]), np.concatenate([had[1], v]))
        final_until = min(end, (settled_before - start) // step * step + start)
        self._put(key, _Range(start, end, step, now, final_until, merged, warnings))
        value = [Series(ls, t, v) for ls, (t, v) in sorted(merged.items())]
        return Answer("matrix", value, list(warnings))

    def instant(self, reader: MetricsReader, expr: str, t: int, now: int, settled_before: int) -> Any:
        key = (expr, -1)
        old = self._get(key)
        if isinstance(old, _Instant) and old.t == t and (old.now == now or old.final):
            self.reused_steps += 1
            return old.answer
        res = reader.instant(expr, t)
        self.computed_steps += 1
        self._put(key, _Instant(t, now, t <= settled_before, res))
        return res


@dataclass
class CachingReader:
    """A ``MetricsReader`` whose panel queries go through a ``ResultsCache`` for one view."""

    reader: MetricsReader
    cache: ResultsCache
    now: int
    settled_before: int

    def label_values(self, label: str, selector: str, start_ms: int, end_ms: int) -> list[str]:
        return self.reader.label_values(label, selector, start_ms, end_ms)

    def label_names(self, selector: str, start_ms: int, end_ms: int) -> list[str]:
        return self.reader.label_names(selector, start_ms, end_ms)

    def instant(self, expr: str, t_ms: int) -> Any:
        return self.cache.instant(self.reader, expr, t_ms, self.now, self.settled_before)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> Any:
        return self.cache.range(self.reader, expr, start_ms, end_ms, step_ms, self.now, self.settled_before)

    def existing(self, names: Sequence[str], start_ms: int, end_ms: int) -> set[str]:
        return self.reader.existing(names, start_ms, end_ms)
