"""Uptime from stored ``probe_success`` series: daily bars and percentages, maintenance excluded.

A day's uptime is the share of its probe results that succeeded, counted from the samples
stored; a day without samples is "no data" (guardia was not running, or the probe did not
exist yet), never downtime.  Results inside a maintenance window count as maintenance, not as
up or down.  All monitors of a page are read in one select and counted with ``np.bincount``;
finished days never change, so they are computed once and cached, and only today is
recounted (at most every ten seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guardia.model import Matcher, MatchType
from guardia.storage.interface import Storage

DAY_MS = 86_400_000
TODAY_TTL_S = 10.0


@dataclass(frozen=True, slots=True)
class DayCounts:
    up: int
    total: int  # results outside maintenance
    maintenance: int

    @property
    def ratio(self) -> float | None:
        return self.up / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class Uptime:
    """One monitor's bars (oldest first) ending today."""

    days: tuple[DayCounts, ...]
    first_day_ms: int

    def window(self, n_days: int) -> float | None:
        """Uptime over the last ``n_days`` (None when there is no data at all)."""
        sel = self.days[-n_days:]
        total = sum(d.total for d in sel)
        return sum(d.up for d in sel) / total if total else None

    def only_maintenance(self, n_days: int) -> bool:
        """True when the last ``n_days`` have results, all inside maintenance windows."""
        sel = self.days[-n_days:]
        return not any(d.total for d in sel) and any(d.maintenance for d in sel)


Windows = Callable[[str], Sequence[tuple[int, int]]]


def count_days(timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64], first_day_ms: int,
               n_days: int, windows: Sequence[tuple[int, int]]) -> npt.NDArray[np.int64]:
    """(n_days, 3) counts of up, total and maintenance results per day."""
    day = (timestamps - first_day_ms) // DAY_MS
    keep = (day >= 0) & (day < n_days) & ~np.isnan(values)
    day, ts, vals = day[keep], timestamps[keep], values[keep]
    maint = np.zeros(ts.shape, dtype=bool)
    for start, end in windows:
        maint |= (ts >= start) & (ts < end)
    out = np.zeros((n_days, 3), dtype=np.int64)
    out[:, 0] = np.bincount(day[~maint], weights=(vals[~maint] == 1), minlength=n_days)[:n_days]
    out[:, 1] = np.bincount(day[~maint], minlength=n_days)[:n_days]
    out[:, 2] = np.bincount(day[maint], minlength=n_days)[:n_days]
    return out


class UptimeCache:
    """Daily counts per monitor, finished days cached, today recounted at most every minute."""

    def __init__(self, storage: Storage, windows: Windows, *, clock: Callable[[], float] = time.time,
                 days: int = 90) -> None:
        self.storage = storage
        self.windows = windows
        self.clock = clock
        self.days = days
        # (metric, monitor, first day) -> counts; (metric, monitor) -> (counted at, day, counts)
        self._past: dict[tuple[str, str, int], npt.NDArray[np.int64]] = {}
        self._today: dict[tuple[str, str], tuple[float, int, npt.NDArray[np.int64]]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget everything (a maintenance window changed what counts)."""
        with self._lock:
            self._past.clear()
            self._today.clear()

    def uptime(self, monitors: Sequence[str], metric: str = "probe_success") -> dict[str, Uptime]:
        """Bars of each job in ``monitors`` from ``metric`` (``probe_success`` for probes, ``up``
        for the scrape jobs a page shows as services)."""
        now_ms = int(self.clock() * 1000)
        today = now_ms - now_ms % DAY_MS
        first = today - (self.days - 1) * DAY_MS
        with self._lock:
            need_past = [m for m in monitors if (metric, m, first) not in self._past]
            if need_past:
                counts = self._count(need_past, first, today, self.days - 1, metric)
                for m in need_past:
                    self._past[(metric, m, first)] = counts[m]
            stale = [m for m in monitors
                     if (metric, m) not in self._today or self._today[(metric, m)][1] != today
                     or self.clock() - self._today[(metric, m)][0] > TODAY_TTL_S]
            if stale:
                counts = self._count(stale, today, now_ms + 1, 1, metric)
                for m in stale:
                    self._today[(metric, m)] = (self.clock(), today, counts[m])
            out = {}
            for m in monitors:
                rows = np.vstack([self._past[(metric, m, first)], self._today[(metric, m)][2]])
                out[m] = Uptime(tuple(DayCounts(int(u), int(t), int(x)) for u, t, x in rows), first)
            # drop entries of days that fell out of the window
            for key in [k for k in self._past if k[2] != first]:
                del self._past[key]
        return out

    def _count(self, monitors: Sequence[str], start: int, end: int, n_days: int, metric: str
               ) -> dict[str, npt.NDArray[np.int64]]:
        out = {m: np.zeros((n_days, 3), dtype=np.int64) for m in monitors}
        if n_days <= 0:
            return out
        q = self.storage.querier(start, end - 1)
        try:
            flat = q.select([
                Matcher("__name__", MatchType.EQUAL, metric),
                Matcher("job", MatchType.REGEX, "|".join(_escape(m) for m in monitors)),
            ])
        finally:
            q.close()
        for i, labels in enumerate(flat.labels):
            job = labels.get("job")
            if job not in out:
                continue
            lo, hi = int(flat.starts[i]), int(flat.starts[i + 1])
            out[job] += count_days(flat.timestamps[lo:hi], flat.values[lo:hi], start, n_days,
                                   self.windows(job))
        return out


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def response_times(storage: Storage, monitors: Sequence[str], now_ms: int, span_ms: int = DAY_MS,
                   points: int = 96) -> dict[str, list[float | None]]:
    """Mean ``probe_duration_seconds`` of each monitor's successful probes in ``points`` buckets
    over the last ``span_ms`` (None where there was none), for the response-time charts."""
    out: dict[str, list[float | None]] = {m: [None] * points for m in monitors}
    if not monitors:
        return out
    start = now_ms - span_ms
    q = storage.querier(start, now_ms)
    try:
        flat = q.select([
            Matcher("__name__", MatchType.EQUAL, "probe_duration_seconds"),
            Matcher("job", MatchType.REGEX, "|".join(_escape(m) for m in monitors)),
        ])
    finally:
        q.close()
    sums = {m: np.zeros(points) for m in monitors}
    counts = {m: np.zeros(points) for m in monitors}
    for i, labels in enumerate(flat.labels):
        job = labels.get("job")
        if job not in sums:
            continue
        lo, hi = int(flat.starts[i]), int(flat.starts[i + 1])
        ts, vs = flat.timestamps[lo:hi], flat.values[lo:hi]
        ok = ~np.isnan(vs)
        bucket = np.clip((ts[ok] - start) * points // span_ms, 0, points - 1)
        sums[job] += np.bincount(bucket, weights=vs[ok], minlength=points)[:points]
        counts[job] += np.bincount(bucket, minlength=points)[:points]
    for m in monitors:
        out[m] = [float(s / c) if c else None for s, c in zip(sums[m], counts[m], strict=True)]
    return out


def latest_up(storage: Storage, jobs: Sequence[str], now_ms: int,
              lookback_ms: int = 300_000) -> dict[str, str]:
    """``up`` / ``down`` / ``unknown`` per scrape job from its targets' latest ``up`` samples
    (down when any target is down, as a page's reader expects of a service)."""
    out = {j: "unknown" for j in jobs}
    if not jobs:
        return out
    q = storage.querier(now_ms - lookback_ms, now_ms)
    try:
        series = q.select([Matcher("__name__", MatchType.EQUAL, "up"),
                           Matcher("job", MatchType.REGEX, "|".join(_escape(j) for j in jobs))])
    finally:
        q.close()
    for s in series:
        job = s.labels.get("job")
        if job not in out or not len(s) or np.isnan(s.values[-1]):
            continue
        if s.values[-1] == 1:
            out[job] = "up" if out[job] != "down" else "down"
        else:
            out[job] = "down"
    return out
