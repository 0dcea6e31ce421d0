"""Intermediate values: every expression is evaluated for all query steps at once.

An instant vector is a label list plus two ``(series, steps)`` arrays: the values and a
presence mask (a series may exist at some steps only; NaN is a legitimate value, so
absence needs its own mask).  A scalar is one value per step.  A range vector (the
argument of ``rate`` & co.) keeps the raw samples of every series flattened into one array
so window functions run over all series and steps in a handful of numpy calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model.histcols import HistCols
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


class Vector:
    """An instant vector over all steps: ``values`` and ``present`` of shape (series, steps).

    Native histogram points are objects (``hists``: a ``FloatHistogram`` where the point is
    one, ``present`` True there and ``values`` NaN, None elsewhere; None for a vector of
    floats only, so float paths never look at it) or columns (``hcols``, as ``rate`` of a
    store's columns gives them) that ``hists`` is built from when first read: ``sum`` adds
    the columns and never builds the objects.
    """

    __slots__ = ("_hists", "hcols", "labels", "ordered", "present", "values")

    def __init__(self, labels: list[Labels], values: F64, present: BOOL, ordered: bool = False,
                 hists: OBJ | None = None, hcols: HistCols | None = None) -> None:
        self.labels = labels
        self.values = values  # shape (k, n)
        self.present = present  # shape (k, n)
        # Set by sort()/sort_desc()/sort_by_label(): the order of an instant result matters.
        self.ordered = ordered
        self._hists = hists
        self.hcols = hcols if hists is None else None

    @property
    def hists(self) -> OBJ | None:
        if self._hists is None and self.hcols is not None:
            self._hists = self.hcols.objects()
            self.hcols = None
        return self._hists

    @hists.setter
    def hists(self, value: OBJ | None) -> None:
        self._hists = value
        self.hcols = None

    @property
    def has_hists(self) -> bool:
        """Whether a histogram column is there (without building its objects)."""
        return self._hists is not None or self.hcols is not None

    def __repr__(self) -> str:
        return f"Vector({self.labels!r}, {self.values!r}, {self.present!r})"

    @property
    def n_steps(self) -> int:
        return int(self.values.shape[1])

    @classmethod
    def empty(cls, n: int) -> Vector:
        return cls([], np.zeros((0, n)), np.zeros((0, n), dtype=bool))

    def take(self, rows: npt.NDArray[np.intp] | list[int]) -> Vector:
        idx = np.asarray(rows, dtype=np.intp)
        labels = [self.labels[i] for i in idx]
        if self.hcols is not None:
            return Vector(labels, self.values[idx], self.present[idx], hcols=self.hcols.take(idx))
        hists = self._hists[idx] if self._hists is not None else None
        return Vector(labels, self.values[idx], self.present[idx], hists=hists)

    def hist_mask(self) -> BOOL:
        """Where the points are histograms."""
        if self.hcols is not None:
            out: BOOL = self.hcols.mask() & self.present
            return out
        if self._hists is None:
            return np.zeros(self.present.shape, dtype=bool)
        return not_none(self._hists) & self.present

    def floats(self) -> tuple[Vector, bool]:
        """The float points alone, and whether any histogram point was dropped."""
        if not self.has_hists:
            return self, False
        hm = self.hist_mask()
        if not hm.any():
            return Vector(self.labels, self.values, self.present, self.ordered), False
        return Vector(self.labels, self.values, self.present & ~hm, self.ordered), True

    def histograms_only(self) -> Vector:
        """The histogram points alone."""
        hm = self.hist_mask()
        if self.hcols is not None:
            return Vector(self.labels, self.values, hm, self.ordered, hcols=self.hcols)
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


class RangeVector:
    """Raw samples of many series plus the window of each step.

    ``t``/``v`` hold all series' samples back to back (stale markers removed); series ``j``
    owns ``[starts[j], starts[j+1])``.  For series ``j`` and step ``i`` the window is
    ``[lo[j, i], hi[j, i])``, i.e. the samples with ``t_i - range < t <= t_i``.

    Native histogram samples beside ``v`` are objects (``h``: a ``FloatHistogram`` or None
    per sample) or columns (``hcols``, ``model.histcols``) that ``h`` is built from when first
    read: ``rate``/``increase`` compute on the columns and never build the objects.
    """

    __slots__ = ("_h", "_hi", "_lo", "check", "eval_ts", "hcols", "labels", "range_ms", "starts",
                 "step_times", "t", "v", "windows")

    def __init__(self, labels: list[Labels], t: I64, v: F64, starts: I64, _lo: I64 | None, _hi: I64 | None,
                 range_ms: int, step_times: I64, eval_ts: I64, check: Callable[[], None] = lambda: None,
                 h: OBJ | None = None, windows: RowWindows | None = None,
                 hcols: HistCols | None = None) -> None:
        self.labels = labels
        self.t = t
        self.v = v
        self.starts = starts
        # shape (k, n) each; None when ``windows`` holds them per distinct row of times, and
        # then made on first use (``rate`` & co. work from the rows and never need them)
        self._lo = _lo
        self._hi = _hi
        self.range_ms = range_ms
        self.step_times = step_times  # (n,) evaluation time of each step after offset/@
        self.eval_ts = eval_ts  # (n,) the steps themselves
        # Called now and then by per-window Python loops so a timeout or cancel stops them.
        self.check = check
        self._h = h
        self.hcols = hcols if h is None else None
        # The bounds per distinct row of sample times, when series share them.
        self.windows = windows

    @property
    def h(self) -> OBJ | None:
        """Native histogram samples beside ``v`` (``FloatHistogram`` or None), or None."""
        if self._h is None and self.hcols is not None:
            self._h = self.hcols.objects()
            self.hcols = None
        return self._h

    @property
    def has_h(self) -> bool:
        """Whether histogram samples are there (without building their objects)."""
        return self._h is not None or self.hcols is not None

    def hmask(self) -> BOOL:
        """Which samples are histograms."""
        if self.hcols is not None:
            return self.hcols.mask()
        if self._h is None:
            return np.zeros(self.t.shape, dtype=bool)
        return not_none(self._h)

    def relabeled(self, labels: list[Labels]) -> RangeVector:
        """The same samples under other label sets."""
        return RangeVector(labels, self.t, self.v, self.starts, self._lo, self._hi, self.range_ms,
                           self.step_times, self.eval_ts, self.check, self._h, self.windows, self.hcols)

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
