"""One dashboard view's reads of the store, shared by its panels.

The panels of a dashboard mostly read the same few series over the same range: a service
dashboard selects ``http_requests_total{job="api"}`` for its rate, error ratio, top-k and
stat panels alike.  Each panel is its own query (its own request from the browser), so
without sharing the store assembles the same 24 h of the same 16,000 series once per panel,
and that was most of a dashboard's load time.  ``SharedReads`` sits between the PromQL
engine and the store for one view (dashboard, variables, time range, ``now``): a selector's
series are read once, over the widest range any panel asked for, and every later select of
the same matchers gets a time slice of them.

Entries live as long as the view (a minute at most) and are bounded in samples, so a large
dashboard cannot pin the store's data in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from guardia.model import Labels, Matcher
from guardia.promql.aggregations import label_values
from guardia.storage.interface import (
    Querier,
    Queryable,
    SelectHints,
    SeriesSet,
    check_selectable,
    hinted_range,
)
from guardia.storage.tsdb.merge import Fragment, assemble

MAX_SAMPLES = 12_000_000  # ~190 MB of timestamps and values at most, per view


def time_slice(ss: SeriesSet, mint: int, maxt: int) -> SeriesSet:
    """The samples of ``ss`` in ``[mint, maxt]``; series left without samples are dropped,
    as a select drops them.  When every sample is in range the arrays are shared, not
    copied: they are made read-only, so a reader that wrote into them would fail loudly
    instead of changing another panel's data."""
    ts, vs, starts, hs = ss.timestamps, ss.values, ss.starts, ss.histograms
    keep = (ts >= mint) & (ts <= maxt)
    if bool(keep.all()):
        for a in (ts, vs, starts) if hs is None else (ts, vs, starts, hs):
            a.setflags(write=False)
        return SeriesSet(list(ss.labels), ts, vs, starts, hs)
    # Kept samples per series: one sum of the mask's bytes per series, not a running count
    # of every sample (a fresh int64 array as long as the read: 37 MB for 16,000 series
    # over a day, for an hour of them).  A trailing 0 makes every start a valid index;
    # an empty series gets one element from reduceat, not none, so it is zeroed.
    hit = np.zeros(len(ts) + 1, dtype=np.uint8)
    hit[:-1] = keep
    counts = np.add.reduceat(hit, starts[:-1], dtype=np.int64) if len(starts) > 1 else np.zeros(0, np.int64)
    counts[starts[1:] == starts[:-1]] = 0
    labels = ss.labels
    if not bool(counts.all()):
        nz = np.nonzero(counts)[0]
        labels = [labels[i] for i in nz.tolist()]
        counts = counts[nz]
    out_starts = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_starts[1:])
    return SeriesSet(list(labels), ts[keep], vs[keep], out_starts, None if hs is None else hs[keep])


def matching_rows(labels: list[Labels], matchers: Sequence[Matcher]) -> list[int]:
    """Positions of the label sets every matcher matches (a missing label matches as "").
    Each matcher is tried once per distinct value of its label, not once per series: a
    read of 16,000 series has three values of ``code``."""
    keep = np.ones(len(labels), dtype=bool)
    for m in matchers:
        values = label_values(labels, m.name)
        verdict = {v: m.matches(v) for v in set(values)}
        keep &= np.fromiter(map(verdict.__getitem__, values), dtype=bool, count=len(values))
    out: list[int] = np.flatnonzero(keep).tolist()
    return out


def take_series(ss: SeriesSet, rows: list[int]) -> SeriesSet:
    """The series ``rows`` of ``ss`` (in that order), their samples copied out."""
    idx = np.asarray(rows, dtype=np.int64)
    counts = ss.starts[idx + 1] - ss.starts[idx]
    starts = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    flat = np.repeat(ss.starts[idx] - starts[:-1], counts) + np.arange(int(starts[-1]), dtype=np.int64)
    hs = None if ss.histograms is None else ss.histograms[flat]
    return SeriesSet([ss.labels[i] for i in rows], ss.timestamps[flat], ss.values[flat], starts, hs)


def concat_in_time(parts: Sequence[SeriesSet]) -> SeriesSet:
    """The series of ``parts`` (reads of one selector over ranges that follow each other,
    oldest first) as one set: a series in several parts gets their samples in order."""
    nonempty = [ss for ss in parts if len(ss.timestamps)]
    if len(nonempty) == 1:
        # the usual widening: the range added (before the data begins) holds nothing
        return nonempty[0]
    index: dict[Labels, int] = {}
    labels: list[Labels] = []
    frags: list[Fragment] = []
    for ss in parts:
        qidx = np.empty(len(ss.labels), dtype=np.int64)
        for i, lb in enumerate(ss.labels):
            q = index.get(lb)
            if q is None:
                q = index[lb] = len(labels)
                labels.append(lb)
            qidx[i] = q
        frags.append(Fragment(qidx, np.diff(ss.starts), ss.timestamps, ss.values))
    int64 = np.iinfo(np.int64)
    counts, ts, vs = assemble(len(labels), frags, int64.min, int64.max)
    starts = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return SeriesSet(labels, ts, vs, starts)


class _Entry:
    __slots__ = ("lock", "maxt", "mint", "series")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mint = 0
        self.maxt = -1
        self.series: SeriesSet | None = None


class SharedReads(Queryable):
    """A ``Queryable`` over ``storage`` that reads each selector once per view."""

    def __init__(self, storage: Queryable, max_samples: int = MAX_SAMPLES, *,
                 parent: SharedReads | None = None, parent_settled: int = 0) -> None:
        """``parent``: the reads of the view before this one (the same store), whose
        samples at or before ``parent_settled`` (its ``now`` less the time samples take to
        arrive) this view takes instead of reading them again: a reload, an auto-refresh or
        a range moved a little then reads only what is newer.  The results cache reuses
        settled steps on the same reasoning."""
        self.storage = storage
        self.max_samples = max_samples
        self.parent = parent
        self.parent_settled = parent_settled
        self.inherited = 0  # selects that started from the parent's read
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self.reads = 0  # selects that went to the store (for tests and the benchmark)
        self.shared = 0  # selects answered from an earlier read

    def querier(self, mint: int, maxt: int) -> Querier:
        return _SharedQuerier(self, mint, maxt)

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        key = tuple(sorted(str(m) for m in matchers))
        with self._lock:
            entry = self._entries.get(key)
            wider = self._wider(key, mint, maxt) if entry is None else None
            if entry is None and wider is None:
                entry = self._entries[key] = _Entry()
            if entry is not None:
                self._entries.move_to_end(key)
        if wider is not None:
            # the series of a selector that narrows one read already: filtered by the
            # extra matchers, without going to the store
            found, have = wider
            extra = [m for m in matchers if str(m) not in have]
            rows = matching_rows(found.labels, extra)
            self.shared += 1
            return time_slice(take_series(found, rows), mint, maxt)
        assert entry is not None
        with entry.lock:  # a second panel asking for the same series waits for the first read
            if entry.series is None and self.parent is not None:
                self._inherit(entry, key, mint, maxt)
            if entry.series is None:
                entry.series = self._read(matchers, mint, maxt)
                entry.mint, entry.maxt = mint, maxt
                self.reads += 1
                self._evict()
            elif (mint < entry.mint or maxt > entry.maxt) and entry.series.histograms is not None:
                # native histograms are not concatenated in time: read the union again
                lo, hi = min(mint, entry.mint), max(maxt, entry.maxt)
                entry.series = self._read(matchers, lo, hi)
                entry.mint, entry.maxt = lo, hi
                self.reads += 1
                self._evict()
            elif mint < entry.mint or maxt > entry.maxt:
                # a wider window (rate over 15m after 5m, increase over the whole range):
                # only the part not read yet comes from the store
                parts = [entry.series]
                if mint < entry.mint:
                    parts.insert(0, self._read(matchers, mint, entry.mint - 1))
                if maxt > entry.maxt:
                    parts.append(self._read(matchers, entry.maxt + 1, maxt))
                entry.series = concat_in_time(parts)
                entry.mint, entry.maxt = min(mint, entry.mint), max(maxt, entry.maxt)
                self.reads += 1
                self._evict()
            else:
                self.shared += 1
            return time_slice(entry.series, mint, maxt)

    def _inherit(self, entry: _Entry, key: tuple[str, ...], mint: int, maxt: int) -> None:
        """Start ``entry`` from the parent's read of the same selector: its settled samples
        (the rest is read by the caller, as any widening is)."""
        parent = self.parent
        assert parent is not None
        with parent._lock:
            old = parent._entries.get(key)
        if old is None:
            return
        with old.lock:  # wait for the parent's read if it is still running
            series, lo, hi = old.series, old.mint, min(old.maxt, self.parent_settled)
        # only a read that covers where this one starts, and some of it: else a plain read
        if series is None or not (lo <= mint <= hi):
            return
        entry.series = time_slice(series, lo, hi)
        entry.mint, entry.maxt = lo, hi
        self.inherited += 1

    def _wider(self, key: tuple[str, ...], mint: int, maxt: int) -> tuple[SeriesSet, set[str]] | None:
        """A settled read of fewer matchers (``{job="api"}`` for ``{job="api",
        code="500"}``) over a range covering ``[mint, maxt]``, and its matchers.  Called
        with the lock held; the read's arrays are never changed, only replaced."""
        have = set(key)
        for other, entry in reversed(self._entries.items()):
            if len(other) >= len(key) or not have.issuperset(other) or entry.series is None:
                continue
            if entry.mint <= mint and maxt <= entry.maxt:
                self._entries.move_to_end(other)
                return entry.series, set(other)
        return None

    def _read(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        q = self.storage.querier(mint, maxt)
        try:
            return q.select(matchers)
        finally:
            q.close()

    def clear(self) -> None:
        """Let go of every read (the view is no longer the newest)."""
        with self._lock:
            self._entries.clear()

    def _evict(self) -> None:
        """Drop the least recently used reads while the view holds too many samples."""
        with self._lock:
            held = sum(len(e.series.timestamps) for e in self._entries.values() if e.series is not None)
            while held > self.max_samples and len(self._entries) > 1:
                _, old = self._entries.popitem(last=False)
                if old.series is not None:
                    held -= len(old.series.timestamps)


class _SharedQuerier(Querier):
    def __init__(self, shared: SharedReads, mint: int, maxt: int) -> None:
        self.shared = shared
        self.mint = mint
        self.maxt = maxt
        self._plain: Querier | None = None

    def _store(self) -> Querier:
        if self._plain is None:
            self._plain = self.shared.storage.querier(self.mint, self.maxt)
        return self._plain

    def select(self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *, sort: bool = False
               ) -> SeriesSet:
        if hints is not None and hints.labels_only:
            return self._store().select(matchers, hints, sort=sort)
        check_selectable(matchers)
        mint, maxt = hinted_range(self, hints)
        found = self.shared.select(matchers, mint, maxt)
        return found.in_label_order() if sort else found

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self._store().label_names(matchers)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self._store().label_values(name, matchers)

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
            self._plain = None
