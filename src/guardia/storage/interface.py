"""The storage boundary: what scrape, rules and remote write append to, and what PromQL reads.

Every engine (the embedded TSDB, the in-memory reference engine, a remote engine) implements
these protocols, so the stages to their right never know which one they talk to.

Appends are batch-first: a scrape's samples share one timestamp and arrive as numpy arrays
of series refs and values, so the hot path has no Python object per sample.  Refs are
dense integers handed out by ``Appender.ref`` for a label set and stay valid for the life
of the storage object (a scrape loop caches them).  An ``Appender`` must end in ``commit``
or ``rollback``; nothing is visible to queries before ``commit`` returns.

Timestamps are int64 milliseconds; values float64.  The staleness marker is
``guardia.model.STALE_NAN`` and is stored like any value; queries see it and PromQL
interprets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher

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

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


@dataclass(slots=True)
class SeriesSet:
    """Many series' samples in flat arrays: series ``i`` is ``labels[i]`` with samples
    ``timestamps[starts[i]:starts[i + 1]]`` (``len(starts) == len(labels) + 1``).

    The shape the PromQL engine computes on.  A store that assembles a select into flat
    arrays anyway hands them over as they are, instead of one ``Series`` (and two array
    views) per series that the engine would concatenate again.
    """

    labels: list[Labels]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    starts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, series: Sequence[Series]) -> SeriesSet:
        """The flat form of a list of ``Series`` (for stores that build those)."""
        starts = np.zeros(len(series) + 1, dtype=np.int64)
        if not series:
            return cls([], np.zeros(0, dtype=np.int64), np.zeros(0), starts)
        ts = [s.timestamps for s in series]
        np.cumsum(np.fromiter(map(len, ts), dtype=np.int64, count=len(ts)), out=starts[1:])
        return cls(
            [s.labels for s in series],
            np.concatenate(ts, dtype=np.int64, casting="unsafe"),
            np.concatenate([s.values for s in series], dtype=np.float64, casting="unsafe"),
            starts,
        )


@dataclass(slots=True)
class AppendStats:
    """What a commit did; rejected samples are counted by reason, never raised for a batch."""

    appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    out_of_bounds: int = 0

    @property
    def rejected(self) -> int:
        return self.out_of_order + self.duplicate + self.out_of_bounds


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
    """A read view over ``[mint, maxt]`` (inclusive, milliseconds)."""

    mint: int
    maxt: int

    def select(self, matchers: Sequence[Matcher], *, sort: bool = False) -> list[Series]:
        """Series matching all ``matchers`` with samples in the querier's range.

        At least one matcher must not match the empty string (as in Prometheus), otherwise
        ``ValueError`` is raised.  Series with no samples in range are omitted.
        """
        ...

    def select_flat(self, matchers: Sequence[Matcher]) -> SeriesSet:
        """``select`` as one ``SeriesSet`` (no order promised), for readers that compute on
        all series at once."""
        ...

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        """Label sets of the series matching ``matchers`` in range, without their samples.

        For ``/api/v1/series`` and the like, which want names only: as in Prometheus, the
        index decides at the granularity of what it tracks (a block's whole time range),
        so a series listed may have no sample inside ``[mint, maxt]`` itself.  The same
        matcher rules as ``select`` apply.
        """
        ...

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted label names of series in range (matching ``matchers`` if given)."""
        ...

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted values of label ``name`` of series in range (matching ``matchers``)."""
        ...

    def close(self) -> None: ...


class Storage(Protocol):
    def appender(self) -> Appender: ...

    def querier(self, mint: int, maxt: int) -> Querier: ...

    def close(self) -> None: ...


def check_selectable(matchers: Sequence[Matcher]) -> None:
    """Refuse selectors that would match every series, as Prometheus does."""
    if not matchers or all(m.matches_empty for m in matchers):
        raise ValueError(
            "vector selector must contain at least one non-empty matcher"
        )
