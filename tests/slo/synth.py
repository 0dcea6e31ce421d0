"""Synthetic request traffic with known error bursts, and burn rates computed with numpy.

Traffic is described per scrape step (requests and errors in that step); the store gets two
counters (``status="200"`` and ``status="500"``) sampled every step.  Counters start high, as
in a process that has been up for a while, so PromQL's extrapolation treats both series the
same way and the ratio of their rates is exactly the ratio of their increases: that is what
the numpy reference computes, without PromQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guardia.model import Labels
from guardia.storage.memory import MemoryStorage

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000  # a UTC midnight
STEP = 60_000
MIN = 60_000
HOUR = 60 * MIN


@dataclass
class Traffic:
    requests: np.ndarray  # per step
    errors: np.ndarray  # per step
    start_ms: int = T0
    step_ms: int = STEP
    until: int | None = None  # steps after this have no samples (the metric disappears)

    @classmethod
    def steady(cls, hours: float, per_step: float = 600.0) -> Traffic:
        n = int(hours * HOUR / STEP)
        return cls(np.full(n, per_step), np.zeros(n))

    def burst(self, at_min: float, minutes: float, ratio: float) -> Traffic:
        a, b = int(at_min * MIN / self.step_ms), int((at_min + minutes) * MIN / self.step_ms)
        self.errors[a:b] = self.requests[a:b] * ratio
        return self

    @property
    def n(self) -> int:
        return len(self.requests) if self.until is None else self.until

    def times(self) -> np.ndarray:
        return self.start_ms + np.arange(self.n, dtype=np.int64) * self.step_ms

    def counters(self) -> tuple[np.ndarray, np.ndarray]:
        """(errors, total) cumulative counters at each sample."""
        err = 1_000 + np.cumsum(self.errors[: self.n])
        total = 1_000_000 + np.cumsum(self.requests[: self.n])
        return err, total

    def store(self, storage: MemoryStorage | None = None, job: str = "api") -> MemoryStorage:
        s = storage or MemoryStorage()
        err, total = self.counters()
        ts = self.times().tolist()
        s.add_series(Labels({"__name__": "http_requests_total", "job": job, "status": "500"}),
                     ts, err.tolist())
        s.add_series(Labels({"__name__": "http_requests_total", "job": job, "status": "200"}),
                     ts, (total - err).tolist())
        return s

    @property
    def end_ms(self) -> int:
        return self.start_ms + (len(self.requests) - 1) * self.step_ms


def window_bounds(ts: np.ndarray, t: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first and last sample in (t - w, t] for each evaluation time."""
    first = np.searchsorted(ts, t - w, side="right")
    last = np.searchsorted(ts, t, side="right") - 1
    return first, last


def error_ratio(tr: Traffic, t: np.ndarray, w: int) -> np.ndarray:
    ts = tr.times()
    err, total = tr.counters()
    first, last = window_bounds(ts, t, w)
    ok = last > first
    out = np.full(len(t), np.nan)
    f, la = first[ok], last[ok]
    out[ok] = (err[la] - err[f]) / (total[la] - total[f])
    return out


def events(tr: Traffic, t: np.ndarray, w: int) -> np.ndarray:
    """Events in the window as rate x window, the way the guard measures them (no extrapolation)."""
    ts = tr.times()
    _, total = tr.counters()
    first, last = window_bounds(ts, t, w)
    ok = last > first
    out = np.zeros(len(t))
    f, la = first[ok], last[ok]
    out[ok] = (total[la] - total[f]) / ((ts[la] - ts[f]) / 1000) * (w / 1000)
    return out


def samples_in(tr: Traffic, t: np.ndarray, w: int) -> np.ndarray:
    first, last = window_bounds(tr.times(), t, w)
    return np.maximum(0, last - first + 1)


def runs(mask: np.ndarray, t: np.ndarray, hold_ms: int = 0) -> list[tuple[int, int | None]]:
    """(fired, resolved) of each run of True lasting ``hold_ms`` on the grid ``t``."""
    out = []
    i = 0
    n = len(mask)
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        fire = np.searchsorted(t, t[i] + hold_ms)
        if fire < j:
            out.append((int(t[fire]), None if j >= n else int(t[j])))
        i = j
    return out
