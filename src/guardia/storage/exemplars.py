"""Exemplars: a bounded circular store, as Prometheus's ``CircularExemplarStorage``.

An exemplar ties a sample of a series (typically a histogram bucket) to a trace: its own small
label set (``trace_id="..."``), a value and a timestamp.  They come from OpenMetrics scrapes,
remote write and OTLP.  Memory is fixed: ``storage.exemplars.max_exemplars`` slots in one ring,
shared by every series, the oldest overwritten first; each series keeps its exemplars as a
chain through the ring (oldest → newest), so a query walks only the series that match.

As in Prometheus, an exemplar equal to the newest one of its series (same labels, value and
time) is a duplicate and ignored, and one older than the newest of its series is out of order
and refused (counted).  ``max_exemplars: 0`` turns storage off.

Exemplars live in memory and survive a crash as samples do: ``open_journal`` makes every
accepted batch one append to ``exemplars.journal`` (written before ``add_many`` returns, as
the WAL is), and the next start reads the snapshot ``exemplars.jsonl`` and then the journal.
The journal is cut back once it holds twice the ring: it is renamed ``.old``, a new one is
opened, a snapshot is written in a thread and only then is ``.old`` removed, so a crash at any
point leaves snapshot + old + new journal, which replay to the same store (a replayed
duplicate is ignored).  Prometheus does the same with exemplar records in its WAL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from guardia.model.labels import Labels
from guardia.model.matchers import Matcher

log = logging.getLogger("guardia.storage.exemplars")

DEFAULT_MAX_EXEMPLARS = 100_000
MAX_LABELS_RUNES = 128


@dataclass(frozen=True, slots=True)
class Exemplar:
    labels: Labels
    value: float
    timestamp_ms: int


@dataclass(slots=True)
class SeriesExemplars:
    """One series' exemplars in a query's time range, oldest first."""

    series: Labels
    exemplars: list[Exemplar]


class ExemplarError(ValueError):
    """An exemplar refused: out of order, or a label set over OpenMetrics's 128 characters."""


class ExemplarStore:
    """The ring of exemplars and, per series, where its chain starts and ends."""

    def __init__(self, max_exemplars: int = DEFAULT_MAX_EXEMPLARS,
                 registry: CollectorRegistry | None = None) -> None:
        self._lock = threading.Lock()
        self._size = 0
        self._slots: list[Exemplar | None] = []
        self._owner: list[Labels | None] = []
        self._next: list[int] = []
        self._series: dict[Labels, list[int]] = {}  # [oldest slot, newest slot]
        self._cursor = 0
        self._count = 0
        self._journal: _Journal | None = None
        # called with every batch stored (from the thread that stored it)
        self.listeners: list[Callable[[list[tuple[Labels, Exemplar]]], None]] = []
        reg = registry if registry is not None else CollectorRegistry()
        # Prometheus's own names, so the same dashboards read both
        self._appended = Counter("prometheus_tsdb_exemplar_exemplars_appended_total",
                                 "Total number of appended exemplars.", registry=reg)
        self._ooo = Counter("prometheus_tsdb_exemplar_out_of_order_exemplars_total",
                            "Total number of out of order exemplar ingestion failed attempts.", registry=reg)
        self._in_storage = Gauge("prometheus_tsdb_exemplar_exemplars_in_storage",
                                 "Number of exemplars currently in circular storage.", registry=reg)
        self._series_gauge = Gauge("prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
                                   "Number of series with exemplars currently in circular storage.",
                                   registry=reg)
        self._max = Gauge("prometheus_tsdb_exemplar_max_exemplars",
                          "Total number of exemplars the exemplar storage can store, resizeable.",
                          registry=reg)
        self.resize(max_exemplars)

    @property
    def max_exemplars(self) -> int:
        return self._size

    def resize(self, n: int) -> None:
        """Change the capacity, keeping the newest exemplars (a reload of ``max_exemplars``)."""
        with self._lock:
            if n == self._size:
                return
            kept = self._in_order()
            self._size = max(n, 0)
            # The ring's lists grow as it first fills (the cursor walks 0, 1, 2, ... before it
            # wraps), so a server that never sees an exemplar does not hold three lists of
            # ``max_exemplars`` slots (2.3 MiB at the default 100,000).
            self._slots = []
            self._owner = []
            self._next = []
            self._series = {}
            self._cursor = 0
            self._count = 0
            for series, ex in kept[max(0, len(kept) - self._size):] if self._size else []:
                self._put(series, ex)
            self._max.set(self._size)
            self._update_gauges()

    def _in_order(self) -> list[tuple[Labels, Exemplar]]:
        """Every stored exemplar, oldest slot first."""
        out: list[tuple[Labels, Exemplar]] = []
        for i in range(self._size):
            j = (self._cursor + i) % self._size
            if j >= len(self._slots):  # not filled yet (the ring has not wrapped)
                continue
            ex, owner = self._slots[j], self._owner[j]
            if ex is not None and owner is not None:
                out.append((owner, ex))
        return out

    def save(self, path: Path) -> int:
        """Write every stored exemplar, oldest first, to ``path`` (atomically); returns how many."""
        with self._lock:
            items = self._in_order()
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            for series, ex in items:
                f.write(_line(series, ex))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return len(items)

    def open_journal(self, snapshot: Path, journal: Path) -> int:
        """Recover what a previous run kept (snapshot, then the journals, oldest first) and
        journal every batch from now on; returns how many exemplars were recovered."""
        n = self.load(snapshot)
        for p in (_old(journal), journal):
            n += self.load(p, quiet=True)
        self.save(snapshot)  # a torn journal tail is left behind, not appended to
        for p in (_old(journal), journal):
            p.unlink(missing_ok=True)
        self._journal = _Journal(self, snapshot, journal)
        return n

    def close_journal(self) -> None:
        """A clean stop: the snapshot holds everything, the journals are removed."""
        j, self._journal = self._journal, None
        if j is not None:
            j.close()

    def load(self, path: Path, quiet: bool = False) -> int:
        """Read what ``save`` wrote; returns how many were stored.  A damaged line ends the
        reading there (what was read stays): exemplars are worth keeping, not worth refusing
        to start over."""
        import orjson  # the store's files only (an agent relays exemplars, keeps none)

        items: list[tuple[Labels, Exemplar]] = []
        try:
            with path.open("rb") as f:
                for line in f:
                    try:
                        series, labels, value, ts = orjson.loads(line)
                        ex = Exemplar(Labels.from_sorted(tuple(p) for p in labels), float(value), int(ts))
                        items.append((Labels.from_sorted(tuple(p) for p in series), ex))
                    except (orjson.JSONDecodeError, TypeError, ValueError):
                        break
        except FileNotFoundError:
            return 0
        items = items[max(0, len(items) - self._size):] if self._size else []  # the newest that fit
        stored = 0
        for series, ex in items:
            with contextlib.suppress(ExemplarError):
                stored += self._add(series, ex, count_refused=not quiet)
        return stored

    def add(self, series: Labels, exemplar: Exemplar) -> bool:
        """Store one exemplar; False for a duplicate of the series' newest.  Raises
        ``ExemplarError`` for one out of order or with too long a label set."""
        stored = self._add(series, exemplar)
        if stored:
            self._stored([(series, exemplar)])
        return stored

    def _stored(self, items: list[tuple[Labels, Exemplar]]) -> None:
        """What was just stored: to the journal, then to every listener (the remote write
        queues with ``send_exemplars``, which read exemplars here as Prometheus's read them
        from its WAL)."""
        if self._journal is not None:
            self._journal.write(items)
        for listen in self.listeners:
            listen(items)

    def _add(self, series: Labels, exemplar: Exemplar, count_refused: bool = True) -> bool:
        if _too_long(exemplar):
            raise ExemplarError(f"exemplar label set is longer than {MAX_LABELS_RUNES} characters")
        with self._lock:
            if self._size == 0:
                return False
            chain = self._series.get(series)
            if chain is not None:
                newest = self._slots[chain[1]]
                if newest is not None:
                    if newest == exemplar:
                        return False
                    if exemplar.timestamp_ms < newest.timestamp_ms:
                        if count_refused:
                            self._ooo.inc()
                        raise ExemplarError("out of order exemplar")
            self._put(series, exemplar)
            self._appended.inc()
            self._update_gauges()
            return True

    def add_many(self, items: Iterable[tuple[Labels, Exemplar]]) -> int:
        """Store several, skipping duplicates and refused ones; returns how many were refused."""
        refused = 0
        stored: list[tuple[Labels, Exemplar]] = []
        for series, ex in items:
            try:
                if self._add(series, ex):
                    stored.append((series, ex))
            except ExemplarError:
                refused += 1
        if stored:
            self._stored(stored)
        return refused

    def _put(self, series: Labels, exemplar: Exemplar) -> None:
        i = self._cursor
        if i == len(self._slots):  # the ring's first round: its lists grow by one slot
            self._slots.append(None)
            self._owner.append(None)
            self._next.append(-1)
        old_owner = self._owner[i]
        if old_owner is None:
            self._count += 1
        else:
            # the slot is the oldest of its series: that series' chain now starts at the next
            old = self._series[old_owner]
            if old[0] == old[1]:
                del self._series[old_owner]
            else:
                old[0] = self._next[i]
        self._slots[i] = exemplar
        self._owner[i] = series
        self._next[i] = -1
        chain = self._series.get(series)
        if chain is None:
            self._series[series] = [i, i]
        else:
            self._next[chain[1]] = i
            chain[1] = i
        self._cursor = (i + 1) % self._size

    def _update_gauges(self) -> None:
        self._in_storage.set(self._count)
        self._series_gauge.set(len(self._series))

    def select(
        self, start_ms: int, end_ms: int, matcher_sets: Sequence[Sequence[Matcher]]
    ) -> list[SeriesExemplars]:
        """Exemplars in [start, end] of the series any matcher set selects, as Prometheus's
        ``Select``: series in label order, each series' exemplars oldest first."""
        out: list[SeriesExemplars] = []
        with self._lock:
            for series, chain in self._series.items():
                if not any(_matches(series, ms) for ms in matcher_sets):
                    continue
                picked: list[Exemplar] = []
                i = chain[0]
                while i != -1:
                    ex = self._slots[i]
                    if ex is not None and start_ms <= ex.timestamp_ms <= end_ms:
                        picked.append(ex)
                    i = self._next[i]
                if picked:
                    out.append(SeriesExemplars(series, picked))
        out.sort(key=lambda s: s.series)
        return out


class ExemplarRelay:
    """An agent's exemplar store: it keeps none to query, only each series' newest (to refuse
    duplicates and out-of-order ones as the store does, so a target repeating its exemplar at
    every scrape is sent it once) and hands what it takes to its listeners (the remote write
    queues), as Prometheus's agent writes exemplars to its WAL for remote write alone."""

    NEWEST_MAX = 200_000  # series remembered (forgotten all at once beyond: a repeat is resent)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest: dict[Labels, Exemplar] = {}
        self.listeners: list[Callable[[list[tuple[Labels, Exemplar]]], None]] = []

    def add_many(self, items: Iterable[tuple[Labels, Exemplar]]) -> int:
        """Take several, skipping duplicates and refused ones; returns how many were refused."""
        refused = 0
        taken: list[tuple[Labels, Exemplar]] = []
        with self._lock:
            newest = self._newest
            if len(newest) > self.NEWEST_MAX:
                newest.clear()
            for series, ex in items:
                last = newest.get(series)
                if last is not None and (last == ex or ex.timestamp_ms < last.timestamp_ms):
                    refused += last != ex
                    continue
                if _too_long(ex):
                    refused += 1
                    continue
                newest[series] = ex
                taken.append((series, ex))
        if taken:
            for listen in self.listeners:
                listen(taken)
        return refused


def _too_long(ex: Exemplar) -> bool:
    """Whether the label set passes OpenMetrics's limit on an exemplar's label characters."""
    return sum(len(k) + len(v) for k, v in ex.labels) > MAX_LABELS_RUNES


def _line(series: Labels, ex: Exemplar) -> bytes:
    import orjson  # here: with what it loads (uuid, platform) ~0.3 MiB in an agent, which writes no line

    return orjson.dumps([list(series), list(ex.labels), ex.value, ex.timestamp_ms]) + b"\n"


def _old(journal: Path) -> Path:
    return journal.with_name(journal.name + ".old")


class _Journal:
    """The append-only file behind ``open_journal``; cut back by a snapshot in a thread."""

    def __init__(self, store: ExemplarStore, snapshot: Path, path: Path) -> None:
        self.store, self.snapshot, self.path = store, snapshot, path
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lines = 0
        self._cutting: threading.Thread | None = None

    def write(self, items: list[tuple[Labels, Exemplar]]) -> None:
        data = b"".join(_line(series, ex) for series, ex in items)
        with self._lock:
            if self._fd < 0:
                return
            try:
                os.write(self._fd, data)
            except OSError as e:  # a full disk costs crash safety, not ingestion
                log.warning("event=exemplar_journal_write_failed file=%s err=%r", self.path, str(e))
                return
            self._lines += len(items)
            if self._lines > 2 * max(self.store.max_exemplars, 1) and self._cutting is None:
                self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        os.replace(self.path, _old(self.path))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lines = 0
        self._cutting = threading.Thread(target=self._cut, name="guardia-exemplar-snapshot", daemon=True)
        self._cutting.start()

    def _cut(self) -> None:
        try:
            self.store.save(self.snapshot)
            _old(self.path).unlink(missing_ok=True)
        except OSError as e:
            log.warning("event=exemplar_snapshot_failed file=%s err=%r", self.snapshot, str(e))
        finally:
            with self._lock:
                self._cutting = None

    def close(self) -> None:
        cutting = self._cutting
        if cutting is not None:
            cutting.join()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self.store.save(self.snapshot)
        for p in (_old(self.path), self.path):
            p.unlink(missing_ok=True)


def _matches(series: Labels, matchers: Sequence[Matcher]) -> bool:
    d = dict(series)
    return all(m.matches(d.get(m.name, "")) for m in matchers)
