"""Intermediate values: every expression is evaluated for all query steps at once.

An instant vector is a label list plus two ``(series, steps)`` arrays: the values and a
presence mask (a series may exist at some steps only; NaN is a legitimate value, so
absence needs its own mask).  A scalar is one value per step.  A range vector (the
argument of ``rate`` & co.) keeps the raw samples of every series flattened into one array
so window functions run over all series and steps in a handful of numpy calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.promql.timerows import RowWindows

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]
OBJ = npt.NDArray[np.object_]


def not_none(a: OBJ) -> BOOL:
    """Where an object array (a histogram column) holds something."""
    # truthiness, in C: a histogram is true, None false (``a != None`` calls each
    # histogram's ``__eq__``, several times slower)
    out: BOOL = a.astype(bool)
    return out


@dataclass(slots=True)
class Vector:
    labels: list[Labels]
    values: F64  # shape (k, n)
    present: BOOL  # shape (k, n)
    # Set by sort()/sort_desc()/sort_by_label(): the order of an instant result matters.
    ordered: bool = False
    # Native histogram samples, shape (k, n): a ``FloatHistogram`` where the point is one
    # (``present`` is True there and ``values`` NaN), None elsewhere; None for a vector of
    # floats only, so float paths never look at it.
    hists: OBJ | None = None

    @property
    def n_steps(self) -> int:
        return int(self.values.shape[1])

    @classmethod
    def empty(cls, n: int) -> Vector:
        return cls([], np.zeros((0, n)), np.zeros((0, n), dtype=bool))

    def take(self, rows: npt.NDArray[np.intp] | list[int]) -> Vector:
        idx = np.asarray(rows, dtype=np.intp)
        hists = self.hists[idx] if self.hists is not None else None
        return Vector([self.labels[i] for i in idx], self.values[idx], self.present[idx], hists=hists)

    def hist_mask(self) -> BOOL:
        """Where the points are histograms."""
        if self.hists is None:
            return np.zeros(self.present.shape, dtype=bool)
        return not_none(self.hists) & self.present

    def floats(self) -> tuple[Vector, bool]:
        """The float points alone, and whether any histogram point was dropped."""
        if self.hists is None:
            return self, False
        hm = self.hist_mask()
        if not hm.any():
            return Vector(self.labels, self.values, self.present, self.ordered), False
        return Vector(self.labels, self.values, self.present & ~hm, self.ordered), True

    def histograms_only(self) -> Vector:
        """The histogram points alone."""
        hm = self.hist_mask()
        return Vector(self.labels, self.values, hm, self.ordered, self.hists)

    def compact(self) -> Vector:
        """Drop series that are absent at every step."""
        keep = np.flatnonzero(self.present.any(axis=1))
        if len(keep) == len(self.labels):
            return self
        return self.take(keep)


@dataclass(slots=True)
class Scalar:
    values: F64  # shape (n,)


@dataclass(slots=True)
class String:
    value: str


@dataclass(slots=True)
class RangeVector:
    """Raw samples of many series plus the window of each step.

    ``t``/``v`` hold all series' samples back to back (stale markers removed); series ``j``
    owns ``[starts[j], starts[j+1])``.  For series ``j`` and step ``i`` the window is
    ``[lo[j, i], hi[j, i])``, i.e. the samples with ``t_i - range < t <= t_i``.
    """

    labels: list[Labels]
    t: I64
    v: F64
    starts: I64
    # shape (k, n) each; None when ``windows`` holds them per distinct row of times, and
    # then made on first use (``rate`` & co. work from the rows and never need them)
    _lo: I64 | None
    _hi: I64 | None
    range_ms: int
    step_times: I64  # (n,) evaluation time of each step after offset/@
    eval_ts: I64  # (n,) the steps themselves
    # Called now and then by per-window Python loops so a timeout or cancel stops them.
    check: Callable[[], None] = field(default=lambda: None)
    # Native histogram samples beside ``v`` (``FloatHistogram`` or None), or None.
    h: OBJ | None = None
    # The bounds per distinct row of sample times, when series share them.
    windows: RowWindows | None = None

    @property
    def lo(self) -> I64:
        if self._lo is None:
            assert self.windows is not None
            self._lo = self.windows.rows.expand(self.windows.lo, self.starts)
        return self._lo

    @property
    def hi(self) -> I64:
        if self._hi is None:
            assert self.windows is not None
            self._hi = self.windows.rows.expand(self.windows.hi, self.starts)
        return self._hi

    @property
    def count(self) -> I64:
        c: I64 = self.hi - self.lo
        return c


Value = Vector | Scalar | String | RangeVector
