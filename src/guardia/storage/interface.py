"""The storage boundary: what scrape, rules and remote write append to, and what PromQL reads.

Every engine (the embedded TSDB, the in-memory reference engine, a remote engine) implements
these protocols, so the stages to their right never know which one they talk to.

Appends are batch-first: a scrape's samples share one timestamp and arrive as numpy arrays
of series refs and values, so the hot path has no Python object per sample.  Refs are
dense integers handed out by ``Appender.ref`` for a label set.  The embedded TSDB renumbers
them when its series garbage collection drops dead series: its appenders carry the
``ref_epoch`` their refs belong to, so a holder of refs across appenders (a scrape loop's
cache) drops or translates them when the epoch moves.  An ``Appender`` must end in ``commit``
or ``rollback``; nothing is visible to queries before ``commit`` returns.

Reads go through a ``Queryable``: a query opens one ``Querier`` over the whole time range
it reads and closes it when done; each selector of the query is one ``select`` on it, with
``SelectHints`` saying which part of the range it needs and what it is for, as Prometheus's
``storage.Querier`` and ``SelectHints`` do.

Timestamps are int64 milliseconds; values float64.  The staleness marker is
``guardia.model.STALE_NAN`` and is stored like any value; queries see it and PromQL
interprets it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from guardia.model import Labels, Matcher

if TYPE_CHECKING:  # numpy is imported where series are built: an agent (which reads none) never does
    import numpy as np
    import numpy.typing as npt

    from guardia.model.histcols import HistCols

SeriesRef = int


class AppendError(ValueError):
    """A sample the store refuses.  Per-sample: the rest of a batch is still appended."""


class OutOfOrderError(AppendError):
    """Older than the newest sample of its series and outside the out-of-order window."""


class DuplicateSampleError(AppendError):
    """Same timestamp as an existing sample of the series but a different value."""


class OutOfBoundsError(AppendError):
    """Older than what the head accepts (write it as a backfill block instead)."""


@dataclass(frozen=True, slots=True)
class Series:
    """One series' samples in a time range, sorted by timestamp."""

    labels: Labels
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    # Native histogram samples: an object array beside ``values`` holding a
    # ``FloatHistogram`` where the sample is one (its float value is then NaN) and None
    # elsewhere; None when the series has float samples only.
    histograms: npt.NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


class SeriesSet(Sequence[Series]):
    """Many series' samples in flat arrays: series ``i`` is ``labels[i]`` with samples
    ``timestamps[starts[i]:starts[i + 1]]`` (``len(starts) == len(labels) + 1``).

    What ``Querier.select`` returns, the shape the PromQL engine computes on: a store that
    assembles a select into flat arrays hands them over as they are.  Readers that want
    one series at a time (federation, rule state restore, tests) index or iterate it and
    get ``Series`` views of the flat arrays, so it compares equal to a list of them.

    Native histogram samples beside ``values`` are either objects (``histograms``, see
    ``Series.histograms``) or columns (``hcols``, ``model.histcols``); ``histograms`` is
    built from the columns when first read, so a reader that computes on the columns
    (PromQL's ``rate``) never builds the objects.
    """

    __slots__ = ("_histograms", "hcols", "labels", "starts", "timestamps", "values")

    def __init__(self, labels: list[Labels], timestamps: npt.NDArray[np.int64],
                 values: npt.NDArray[np.float64], starts: npt.NDArray[np.int64],
                 histograms: npt.NDArray[np.object_] | None = None, hcols: HistCols | None = None) -> None:
        self.labels = labels
        self.timestamps = timestamps
        self.values = values
        self.starts = starts
        self._histograms = histograms
        self.hcols = hcols if histograms is None else None

    @property
    def histograms(self) -> npt.NDArray[np.object_] | None:
        """The histogram column as objects (None: floats only)."""
        if self._histograms is None and self.hcols is not None:
            self._histograms = self.hcols.objects() if bool(self.hcols.mask().any()) else None
            self.hcols = None
        return self._histograms

    @histograms.setter
    def histograms(self, value: npt.NDArray[np.object_] | None) -> None:
        self._histograms = value
        self.hcols = None

    @property
    def has_histograms(self) -> bool:
        """Whether a histogram column is there (as objects or columns)."""
        return self._histograms is not None or self.hcols is not None

    def __repr__(self) -> str:
        return f"SeriesSet({self.labels!r}, {self.timestamps!r}, {self.values!r}, {self.starts!r})"

    @classmethod
    def of(cls, series: Sequence[Series]) -> SeriesSet:
        """The flat form of a list of ``Series`` (for stores that build those)."""
        import numpy as np

        starts = np.zeros(len(series) + 1, dtype=np.int64)
        if not series:
            return cls([], np.zeros(0, dtype=np.int64), np.zeros(0), starts)
        ts = [s.timestamps for s in series]
        np.cumsum(np.fromiter(map(len, ts), dtype=np.int64, count=len(ts)), out=starts[1:])
        hists = None
        if any(s.histograms is not None for s in series):
            hists = np.concatenate([
                s.histograms if s.histograms is not None else np.full(len(s), None, dtype=object)
                for s in series
            ])
        return cls(
            [s.labels for s in series],
            np.concatenate(ts, dtype=np.int64, casting="unsafe"),
            np.concatenate([s.values for s in series], dtype=np.float64, casting="unsafe"),
            starts,
            hists,
        )

    @classmethod
    def labels_only(cls, labels: list[Labels]) -> SeriesSet:
        """Label sets without samples: the answer to a ``labels_only`` select."""
        import numpy as np

        empty = np.zeros(0, dtype=np.int64)
        return cls(labels, empty, np.zeros(0), np.zeros(len(labels) + 1, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Series:  # type: ignore[override]
        if not -len(self.labels) <= i < len(self.labels):
            raise IndexError("series index out of range")
        i %= len(self.labels)
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return Series(self.labels[i], self.timestamps[a:b], self.values[a:b], _part(self.histograms, a, b))

    def __iter__(self) -> Iterator[Series]:
        ts, vs, hs = self.timestamps, self.values, self.histograms
        bounds = self.starts.tolist()
        for lb, a, b in zip(self.labels, bounds, bounds[1:], strict=False):
            yield Series(lb, ts[a:b], vs[a:b], _part(hs, a, b))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def in_label_order(self) -> SeriesSet:
        """The same series in label order."""
        import numpy as np

        order = sorted(range(len(self.labels)), key=self.labels.__getitem__)
        if order == list(range(len(order))):
            return self
        counts = np.diff(self.starts)[order]
        idx = np.repeat(self.starts[order] - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        idx += np.arange(idx.shape[0], dtype=np.int64)
        starts = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        if self.hcols is not None:
            return SeriesSet([self.labels[i] for i in order], self.timestamps[idx], self.values[idx], starts,
                             hcols=self.hcols.take(idx))
        hs = self.histograms[idx] if self.histograms is not None else None
        return SeriesSet([self.labels[i] for i in order], self.timestamps[idx], self.values[idx], starts, hs)


def _part(hs: npt.NDArray[np.object_] | None, a: int, b: int) -> npt.NDArray[np.object_] | None:
    """One series' slice of the histogram column, None when it has no histogram."""
    if hs is None:
        return None
    part = hs[a:b]
    return part if any(x is not None for x in part) else None


@dataclass(frozen=True, slots=True)
class SelectHints:
    """What a reader will do with a ``select``, so a store can do no more than needed.

    ``start``/``end`` (inclusive, milliseconds) narrow the querier's range to what this
    selector reads (its lookback or range window, its offset and ``@``); a store returns
    samples in their intersection with the querier's range.  ``step`` is the query's
    resolution (0 for an instant query), ``func`` the function or aggregation the selector
    feeds (``rate``, ``sum``...), ``range_ms`` the range of a range selector: a remote
    engine may push the work down with them.  ``labels_only`` asks for label sets without
    samples (the series API), answered from the index at its granularity, as Prometheus's
    ``Func: "series"`` is.
    """

    start: int
    end: int
    step: int = 0
    func: str = ""
    range_ms: int = 0
    labels_only: bool = False


@dataclass(slots=True)
class AppendStats:
    """What a commit did; rejected samples are counted by reason, never raised for a batch."""

    appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    out_of_bounds: int = 0
    # refused with an out-of-order window set: older than the window allows (Prometheus's
    # "too old sample"); without a window such samples are out_of_order or out_of_bounds
    too_old: int = 0
    # of ``appended``: accepted out of order (within ``storage.tsdb.out_of_order_time_window``)
    ooo_appended: int = 0

    @property
    def rejected(self) -> int:
        return self.out_of_order + self.duplicate + self.out_of_bounds + self.too_old


class Appender(Protocol):
    def ref(self, labels: Labels) -> SeriesRef:
        """The ref for a label set, creating the series if it is new."""
        ...

    def append(self, ref: SeriesRef | Labels, t: int, v: float) -> None:
        """Queue one sample.  Raises an ``AppendError`` if it can be rejected right away."""
        ...

    def append_batch(
        self,
        refs: npt.NDArray[np.int64] | Sequence[SeriesRef],
        t: int,
        values: npt.NDArray[np.float64] | Sequence[float],
    ) -> None:
        """Queue one sample per ref, all at timestamp ``t`` (one scrape)."""
        ...

    def commit(self) -> AppendStats:
        """Make everything queued durable (WAL) and visible; report rejected samples."""
        ...

    def rollback(self) -> None:
        """Drop everything queued since the last commit."""
        ...


@runtime_checkable
class Querier(Protocol):
    """A read view over ``[mint, maxt]`` (inclusive, milliseconds); one per query."""

    mint: int
    maxt: int

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *, sort: bool = False
    ) -> SeriesSet:
        """Series matching all ``matchers`` with samples in range (``hints`` may narrow it).

        At least one matcher must not match the empty string (as in Prometheus), otherwise
        ``ValueError`` is raised.  Series with no samples in range are omitted, unless the
        hints ask for labels only.  ``sort`` orders them by label set; otherwise no order
        is promised.
        """
        ...

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        """Label sets of the series matching ``matchers`` in range, without their samples.

        For ``/api/v1/series`` and the like, which want names only: as in Prometheus, the
        index decides at the granularity of what it tracks (a block's whole time range),
        so a series listed may have no sample inside ``[mint, maxt]`` itself.  The same
        matcher rules as ``select`` apply.
        """
        return self.select(matchers, SelectHints(self.mint, self.maxt, labels_only=True)).labels

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted label names of series in range (matching ``matchers`` if given)."""
        ...

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted values of label ``name`` of series in range (matching ``matchers``)."""
        ...

    def close(self) -> None: ...


class Queryable(Protocol):
    """Anything that opens queriers: a store, or a fan-out over a store and remote read.

    What promql, rules and the HTTP API read through; none of them knows which engine
    answers.
    """

    def querier(self, mint: int, maxt: int) -> Querier: ...


class Storage(Queryable, Protocol):
    """A store that takes appends and answers queries."""

    def appender(self) -> Appender: ...

    def close(self) -> None: ...


def hinted_range(q: Querier, hints: SelectHints | None) -> tuple[int, int]:
    """The range a select reads: the querier's, narrowed by the hints."""
    if hints is None:
        return q.mint, q.maxt
    return max(q.mint, hints.start), min(q.maxt, hints.end)


def check_selectable(matchers: Sequence[Matcher]) -> None:
    """Refuse selectors that would match every series, as Prometheus does."""
    if not matchers or all(m.matches_empty for m in matchers):
        raise ValueError(
            "vector selector must contain at least one non-empty matcher"
        )
