"""``TSDB``: the embedded store behind the ``Storage`` protocol.

One lock serialises appends, cuts and index reads; numpy does the heavy lifting inside
it.  Order of a commit: new series and the samples go to the WAL first, then into the
head, so whatever ``commit`` returned for is replayed after a crash.  Replay runs the
same append logic, so samples rejected once are rejected again and the head comes back
exactly as it was.

``maintain(now_ms)`` is the housekeeping the server calls periodically: cut the head into
a block once it spans 1.5 block ranges, checkpoint the WAL, compact blocks, apply
retention.  It runs under the lock (appends wait while a block is written).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
import threading
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry

from guardia.model import STALE_NAN, Labels, is_stale_nan
from guardia.model.histcols import HistCols
from guardia.model.histogram import FloatHistogram
from guardia.model.samples import STALE_NAN_BITS
from guardia.storage.interface import AppendError, AppendStats, SeriesRef
from guardia.storage.tsdb import wal
from guardia.storage.tsdb.block import Block, is_block_dir
from guardia.storage.tsdb.blockindex import BlockCorruptError
from guardia.storage.tsdb.compact import block_order, expired, plan, write_block
from guardia.storage.tsdb.head import Head, release_free_memory
from guardia.storage.tsdb.head_wal import ReplayReport
from guardia.storage.tsdb.histencode import encode_columns as encode_histogram_columns
from guardia.storage.tsdb.histmigrate import migrate_range_files, read_range_files
from guardia.storage.tsdb.histograms import DROP as HIST_DROP
from guardia.storage.tsdb.histograms import LATE as HIST_LATE
from guardia.storage.tsdb.histograms import TAKEN as HIST_TAKEN
from guardia.storage.tsdb.histograms import TOO_OLD as HIST_TOO_OLD
from guardia.storage.tsdb.histograms import HistogramDecodeError, HistogramStore
from guardia.storage.tsdb.histograms import Sample as HistogramSample
from guardia.storage.tsdb.histograms import decode_columns as decode_histogram_columns
from guardia.storage.tsdb.histograms import label_bytes as histogram_label_bytes
from guardia.storage.tsdb.index import MemIndex, PostingsStats
from guardia.storage.tsdb.metrics import TSDBMetrics
from guardia.storage.tsdb.options import TSDBOptions
from guardia.storage.tsdb.querier import TSDBQuerier
from guardia.storage.tsdb.source import SeriesSource

__all__ = ["TSDB", "MaintenanceReport", "StorageLockedError", "TSDBAppender", "TSDBQuerier"]

log = logging.getLogger("guardia.storage.tsdb")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HeadStats:
    num_series: int
    chunk_count: int
    min_time: int  # ms; an empty head has MaxInt64 and MinInt64, printed so as Prometheus does
    max_time: int
    postings: PostingsStats


class StorageLockedError(RuntimeError):
    """Another process has the data directory open; ``pid`` is that process when known."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


@dataclass(slots=True)
class MaintenanceReport:
    """What one ``maintain`` call did, for logs and tests."""

    blocks_cut: list[str] = field(default_factory=list)
    compacted: list[str] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)


class TSDB:
    """A durable time-series store in one directory (see module docs)."""

    def __init__(
        self,
        path: Path,
        options: TSDBOptions,
        registry: CollectorRegistry | None,
        read_only: bool,
    ) -> None:
        self.path = path
        self.options = options
        self.read_only = read_only
        self.metrics = TSDBMetrics(registry)
        self._lock = threading.RLock()
        self._maintain_lock = threading.Lock()
        self.head = Head(options)
        self.blocks: list[Block] = []
        # the head's native histogram samples (beside the float head; see ``tsdb.histograms``);
        # older ones are in the blocks' histogram parts (``tsdb.histblock``)
        self.histograms = HistogramStore()
        # Series not in the WAL yet (logged with the next commit), encoded as they are
        # created: one growing buffer, not a (ref, labels) tuple per new series, which
        # would be garbage scattered through the small-object heap (and stay resident).
        self._pending_series = bytearray()
        self._created = 0
        self._lockfile: int = -1
        self._wal: wal.WALWriter | None = None
        self.replay = ReplayReport()
        self._closed = False
        self._head_cuts = 0
        # The oldest WAL segment a reader outside the store (remote write) still needs, or
        # None: a checkpoint keeps the segments from there on (see ``_wal_keep_from``).
        self.wal_readers: Callable[[], int | None] | None = None
        # Series garbage collection renumbers refs.  ``ref_epoch`` counts GCs; ``_gc_map`` is
        # the last one's old → new map, so a commit whose refs are one GC old is translated;
        # only series that existed at the previous GC are candidates (``_gc_floor``), so a
        # series just created by a scrape in flight survives to be translated.
        self.ref_epoch = 0
        self._gc_map: I64 = np.zeros(0, dtype=np.int64)
        self._gc_floor = 0
        # appenders holding refs or samples: GC waits until none is (next ``maintain``)
        self._active_appenders: weakref.WeakSet[TSDBAppender] = weakref.WeakSet()

    @classmethod
    def open(
        cls,
        path: str | Path,
        options: TSDBOptions | None = None,
        registry: CollectorRegistry | None = None,
        *,
        read_only: bool = False,
    ) -> TSDB:
        """Open (creating if needed) the store in ``path``: load blocks, replay the WAL.

        ``read_only`` opens without the directory lock and never writes: for snapshots,
        ``analyze`` and other tools that look at a directory a server is using.
        """
        p = Path(path)
        if read_only:
            if not p.is_dir():
                raise FileNotFoundError(f"data directory {p} does not exist")
        else:
            p.mkdir(parents=True, exist_ok=True)
        db = cls(p, options or TSDBOptions(), registry, read_only)
        try:
            if not read_only:
                db._acquire_lock()
            db._load_blocks()
            db._old_histogram_files()
            db._replay()
            if not read_only:
                db._wal = wal.WALWriter(
                    p / "wal", db.options.wal_fsync, db.options.wal_group_commit_ms,
                    db.options.wal_segment_bytes,
                )
        except BaseException:
            db._release()
            raise
        db._bind_gauges()
        db._update_gauges()
        return db

    def _acquire_lock(self) -> None:
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid: int | None = int(os.pread(fd, 32, 0).decode().strip() or "x")
            except ValueError:
                pid = None  # written by a version that did not record its PID
            os.close(fd)
            holder = f"process {pid}" if pid else "another process"
            raise StorageLockedError(
                f"data directory {self.path} is in use by {holder} (lock file "
                f"{self.path / 'lock'}); stop it, or give this one another directory", pid
            ) from None
        # The holder's PID in the lock file lets the next one name who has the directory.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lockfile = fd

    def _release(self) -> None:
        if self._wal is not None:
            self._wal.close()
            self._wal = None
        for b in self.blocks:
            b.close()
        self.blocks = []
        if self._lockfile >= 0:
            os.close(self._lockfile)
            self._lockfile = -1

    # --- blocks -----------------------------------------------------------------------------

    def _on_block_corrupt(self, block: Block, page: int, reason: str) -> None:
        self.metrics.block_corruptions.inc()

    def _load_blocks(self) -> None:
        loaded: list[Block] = []
        tables: dict[bytes, MemIndex] = {}  # blocks holding the same series share an index
        for d in sorted(self.path.iterdir()):
            if d.name.endswith(".tmp") and d.is_dir():
                if not self.read_only:
                    shutil.rmtree(d, ignore_errors=True)  # an interrupted write
                continue
            if not is_block_dir(d):
                continue
            try:
                loaded.append(Block(d, self._on_block_corrupt, tables))
            except BlockCorruptError as e:
                log.error("event=block_unreadable block=%s error=%r action=skipped", d.name, str(e))
                self.metrics.block_corruptions.inc()
        # A compaction that crashed after writing its result leaves its inputs behind.
        superseded = set()
        for b in loaded:
            for other in loaded:
                if other is not b and b.ulid in other.sources and len(other.sources) > len(b.sources):
                    superseded.add(b.ulid)
        for b in loaded:
            if b.ulid in superseded:
                b.close()
                if not self.read_only:
                    shutil.rmtree(b.path, ignore_errors=True)
        self.blocks = sorted((b for b in loaded if b.ulid not in superseded), key=block_order)
        if self.blocks:
            self.head.min_valid_t = max(b.maxt for b in self.blocks) + 1
            self.histograms.min_valid_t = self.head.min_valid_t

    def _old_histogram_files(self) -> None:
        """Native histogram range files beside the blocks (``histograms/*.nh``, written
        before histograms went into blocks): each becomes a block of its own and is deleted
        (a read-only open reads them into memory instead).  See ``histmigrate``."""
        if self.read_only:
            self.histograms.add(read_range_files(self.path))
            return
        for path in migrate_range_files(self.path, self.blocks, self.options.block_range_ms,
                                        self.options.block_zstd_level):
            self.blocks.append(Block(path, self._on_block_corrupt))
        self.blocks.sort(key=block_order)
        if self.blocks:
            self.head.min_valid_t = max(b.maxt for b in self.blocks) + 1
            self.histograms.min_valid_t = self.head.min_valid_t

    # --- WAL replay -------------------------------------------------------------------------

    def _replay(self) -> None:
        def corrupt(where: str) -> None:
            self.metrics.wal_corruptions.inc()
            log.warning("event=wal_corruption where=%r action=truncated_here", where)

        self.head.histogram_sink = self._replay_histograms
        self._replay_labels: dict[bytes, Labels] = {}
        self.replay = self.head.replay(self.path / "wal", repair=not self.read_only, on_corruption=corrupt)
        self.head.histogram_sink = None
        self._replay_labels = {}
        self._gc_floor = self.head.num_series
        self.metrics.replay_seconds.set(self.replay.seconds)
        self.metrics.head_series_created.inc(self.head.num_series)

    def _replay_histograms(self, rtype: int, payload: bytes) -> None:
        """One histogram record back into the store as its commit took it: any order (an
        out-of-order sample goes to its place), the first sample of a timestamp winning;
        samples below ``min_valid_t`` are in blocks already, except those of a late record
        (``REC_HISTOGRAMS_LATE``), which wait for a block of their own."""
        try:
            labels, ts, cols = decode_histogram_columns(payload, self._replay_labels)
        except HistogramDecodeError as e:
            self.metrics.wal_corruptions.inc()
            log.warning("event=wal_corruption where=histogram_record error=%r action=skipped", str(e))
            return
        floor = self.histograms.min_valid_t
        if rtype != wal.REC_HISTOGRAMS_LATE and ts and min(ts) < floor:
            keep = [t >= floor for t in ts]
            labels = [x for x, k in zip(labels, keep, strict=True) if k]
            ts = [x for x, k in zip(ts, keep, strict=True) if k]
            cols = cols.take(np.array(keep, dtype=bool))
        if labels:
            self.histograms.add_columns(labels, ts, cols)

    def _commit_histograms(self, samples: list[HistogramSample],
                           batches: Sequence[tuple[list[Labels], I64, HistCols]] = ()) -> AppendStats:
        """Log then keep one commit's native histogram samples (one WAL record): single
        samples (objects) and batches (columns), each batch's samples at its timestamps."""
        if self.read_only:
            raise AppendError("the store was opened read-only")
        parts = list(batches)
        if samples:
            parts.insert(0, ([ls for ls, _, _ in samples],
                             np.array([t for _, t, _ in samples], dtype=np.int64),
                             HistCols.from_objects([h for _, _, h in samples])))
        stats = AppendStats()
        with self._lock:
            if self._closed:
                raise AppendError("the store is closed")
            window = self.head.ooo_window
            newest = max(self.head.newest(), self.histograms.max_t)
            ok: list[tuple[list[Labels], I64, HistCols, list[object]]] = []
            late: list[tuple[list[Labels], I64, HistCols, list[object]]] = []
            for labels, ts, cols in parts:
                # a series more than once at different times (remote write): checked in order
                seq = ts.shape[0] > 1 and bool((ts != ts[0]).any()) and len(set(labels)) < len(labels)
                whys, found = self.histograms.check_columns(labels, ts.tolist(), cols, window, newest, seq)
                if whys is None:
                    ok.append((labels, ts, cols, found))  # type: ignore[arg-type]
                    continue
                keep = np.ones(len(whys), dtype=bool)
                below = np.zeros(len(whys), dtype=bool)
                for k, why in enumerate(whys):
                    if why is None:
                        continue
                    if why in HIST_TAKEN:
                        stats.ooo_appended += 1
                        if why == HIST_LATE:
                            keep[k] = False
                            below[k] = True
                        continue
                    keep[k] = False
                    if why == HIST_DROP:
                        continue
                    if why == "out of bounds":
                        stats.out_of_bounds += 1
                    elif why == HIST_TOO_OLD:
                        stats.too_old += 1
                    elif why.startswith("duplicate"):
                        stats.duplicate += 1
                    else:
                        stats.out_of_order += 1
                for dest, sel in ((ok, keep), (late, below)):
                    if sel.any():
                        flags = sel.tolist()
                        dest.append(([ls for ls, k in zip(labels, flags, strict=True) if k], ts[sel],
                                     cols.take(sel), [f for f, k in zip(found, flags, strict=True) if k]))
            recs: list[bytes] = []
            if self._has_pending_series():
                recs.append(self._series_record())
                self.metrics.head_series_created.inc(self._created)
                self._created = 0
                self._pending_series = bytearray()
            kinds = ((wal.REC_HISTOGRAMS, ok), (wal.REC_HISTOGRAMS_LATE, late))
            joined = [(rtype, _join(x)) for rtype, x in kinds if x]
            for rtype, (j_labels, j_ts, j_cols, _) in joined:
                if j_labels:
                    payload = encode_histogram_columns(histogram_label_bytes(j_labels), j_ts, j_cols)
                    recs.append(wal.frame(rtype, payload))
            if recs:
                assert self._wal is not None
                self._wal.write(b"".join(recs))
            for _, (j_labels, j_ts, j_cols, j_found) in joined:
                if j_labels:
                    self.histograms.add_columns(j_labels, j_ts.tolist(), j_cols, j_found)  # type: ignore[arg-type]
                    stats.appended += len(j_labels)
            self._count_histograms(stats)
        return stats

    # --- Storage protocol -------------------------------------------------------------------

    def appender(self) -> TSDBAppender:
        return TSDBAppender(self)

    def querier(self, mint: int, maxt: int) -> TSDBQuerier:
        return TSDBQuerier(self, mint, maxt)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._has_pending_series() and self._wal is not None:
                with contextlib.suppress(OSError):
                    self._wal.write(self._series_record())
            self._release()

    # --- internals used by appender and querier ---------------------------------------------

    def _ref(self, labels: Labels) -> SeriesRef:
        return self._ref_at(labels)[0]

    def _ref_at(self, labels: Labels) -> tuple[SeriesRef, int]:
        """The ref of a label set and the GC epoch it belongs to."""
        with self._lock:
            ref, created = self.head.ref_for(labels)
            if created:
                wal.encode_series_into(self._pending_series, ref, labels)
                self._created += 1
            return ref, self.ref_epoch

    def _refs_at(self, sets: list[Labels]) -> tuple[list[int], int]:
        """``_ref_at`` of many label sets under one lock, with one series record payload
        for those created (logged, as always, before any sample that uses them)."""
        with self._lock:
            refs, added = self.head.refs_for(sets)
            if added:
                wal.encode_series_many_into(self._pending_series, ((refs[i], sets[i]) for i in added))
                self._created += len(added)
            return refs, self.ref_epoch

    def translate_refs(self, refs: I64, epoch: int) -> I64 | None:
        """Refs handed out at GC epoch ``epoch`` in today's numbering (-1 for a series GC
        dropped), or None when they are more than one GC old (get them again by labels)."""
        with self._lock:
            if epoch == self.ref_epoch:
                return refs
            if epoch != self.ref_epoch - 1:
                return None
            m = self._gc_map
            out = np.full(refs.shape[0], -1, dtype=np.int64)
            ok = (refs >= 0) & (refs < m.shape[0])
            out[ok] = m[refs[ok]]
            return out

    def _collect_garbage(self) -> int:
        """Drop the series with no sample left in the head (call after a truncation, with the
        lock held); returns how many.  The WAL gets the drop as a record before any ref of the
        new numbering, so replay drops and renumbers the same way at the same point."""
        h = self.head
        if len(self._active_appenders):
            return 0  # refs in use: the next maintain tries again
        dead = h.dead_series(self._gc_floor)
        if not dead.size or self._wal is None:
            self._gc_floor = h.num_series
            return 0
        recs = []
        if self._has_pending_series():
            recs.append(self._series_record())  # still in the old numbering: log it first
            self.metrics.head_series_created.inc(self._created)
            self._created = 0
            self._pending_series = bytearray()
        recs.append(wal.frame(wal.REC_GC, wal.encode_gc(dead)))
        self._wal.write(b"".join(recs))
        self._gc_map = h.drop_series(dead)
        self.ref_epoch += 1
        self._gc_floor = h.num_series
        self.metrics.head_series_removed.inc(int(dead.size))
        log.info("event=head_gc series_dropped=%d series_kept=%d epoch=%d", dead.size, h.num_series,
                 self.ref_epoch)
        return int(dead.size)

    def _has_pending_series(self) -> bool:
        return bool(self._pending_series)

    def _series_record(self) -> bytes:
        return wal.frame(wal.REC_SERIES, bytes(self._pending_series))

    def _commit(self, refs: I64, t: int | I64, vs: F64, epoch: int | None = None, *,
                checked: bool = False) -> AppendStats:
        """Log then apply one commit's samples (one WAL record, replayed the same way).

        ``epoch`` is the GC epoch the refs were handed out at: refs one GC old are translated
        (a scrape that was in flight during the GC), older ones refused.  ``checked``: an
        appender's refs, each checked against the head when queued; while the epoch is the
        same they are still valid (series go only in a GC, which waits for the appender),
        so the check is not made twice."""
        if self.read_only:
            raise AppendError("the store was opened read-only")
        stats = AppendStats()
        with self._lock:
            if self._closed:
                raise AppendError("the store is closed")
            if epoch is not None and epoch != self.ref_epoch:
                moved = self.translate_refs(refs, epoch)
                if moved is None or (moved.size and int(moved.min()) < 0):
                    raise AppendError("series refs from before a series garbage collection: get them "
                                      "again with Appender.ref(labels)")
                refs = moved
                checked = False
            if not checked and refs.size and (int(refs.min()) < 0 or int(refs.max()) >= self.head.num_series):
                raise AppendError("unknown series ref: get refs from Appender.ref(labels)")
            late: tuple[I64, I64, F64] | None = None
            if self.head.ooo_window > 0:
                refs, t, vs, late = self._split_late(refs, t, vs, stats)
            recs: list[bytes] = []
            if self._has_pending_series():
                recs.append(self._series_record())
                self.metrics.head_series_created.inc(self._created)
                self._created = 0
            if isinstance(t, int):
                recs.append(wal.frame(wal.REC_SAMPLES_T, wal.encode_samples_t(refs, t, vs)))
            elif t.size or late is None:
                recs.append(wal.frame(wal.REC_SAMPLES, wal.encode_samples(refs, t, vs)))
            if late is not None:
                recs.append(wal.frame(wal.REC_OOO_LATE, wal.encode_samples(*late)))
            assert self._wal is not None
            self._wal.write(recs[0] if len(recs) == 1 else b"".join(recs))
            self._pending_series = bytearray()
            self.head.append(refs, t, vs, stats)
            if late is not None:
                self.head.append_late(*late, stats)
            self._count(stats)
        return stats

    def _split_late(
        self, refs: I64, t: int | I64, vs: F64, stats: AppendStats
    ) -> tuple[I64, int | I64, F64, tuple[I64, I64, F64] | None]:
        """Take out of a commit the samples below the head's lower bound (their time range is
        in blocks already).  With an out-of-order window they are *late*: accepted if no older
        than the window allows, counted from the newest sample of the head (Prometheus 3's
        rule), logged as their own WAL record and kept in the head until a cut writes them
        into blocks of their own; the others are refused as too old.  A scrape (one
        timestamp) costs one comparison."""
        h = self.head
        mvt = h.min_valid_t
        if isinstance(t, int):
            if t >= mvt:
                return refs, t, vs, None
            ts = np.full(refs.shape[0], t, dtype=np.int64)
        else:
            ts = t
        below = ts < mvt
        if not below.any():
            return refs, t, vs, None
        ok = below & (ts >= h.newest() - h.ooo_window)
        stats.too_old += int(below.sum()) - int(ok.sum())
        keep = ~below
        late = (refs[ok], ts[ok], vs[ok]) if ok.any() else None
        return refs[keep], ts[keep], vs[keep], late

    def _count_histograms(self, stats: AppendStats) -> None:
        """``_count`` for native histogram samples: Prometheus's counters, ``type="histogram"``."""
        m = self.metrics
        for n, child in ((stats.appended, m.appended_histogram), (stats.out_of_order, m.ooo_histogram),
                         (stats.out_of_bounds, m.oob_histogram), (stats.too_old, m.too_old_histogram),
                         (stats.ooo_appended, m.ooo_appended_histogram), (stats.duplicate, m.duplicate)):
            if n:
                child.inc(n)

    def _count(self, stats: AppendStats) -> None:
        m = self.metrics
        if stats.appended:
            m.appended_float.inc(stats.appended)
        if stats.out_of_order:
            m.ooo_float.inc(stats.out_of_order)
        if stats.out_of_bounds:
            m.oob_float.inc(stats.out_of_bounds)
        if stats.too_old:
            m.too_old_float.inc(stats.too_old)
        if stats.ooo_appended:
            m.ooo_appended_float.inc(stats.ooo_appended)
        if stats.duplicate:
            m.duplicate.inc(stats.duplicate)

    def _bind_gauges(self) -> None:
        """Head gauges are read when scraped, so commits never pay for them."""
        m, h = self.metrics, self.head
        m.head_series.set_function(lambda: h.num_series)
        m.head_chunks.set_function(lambda: h.num_chunks())
        m.head_min_time.set_function(lambda: h.mint if h.maxt >= h.mint else 0)
        m.head_max_time.set_function(lambda: h.maxt if h.maxt >= h.mint else 0)
        m.blocks_loaded.set_function(lambda: len(self.blocks))

    def _update_gauges(self) -> None:
        m = self.metrics
        m.blocks_bytes.set(sum(b.size_bytes() for b in self.blocks))
        lows = [b.mint for b in self.blocks]
        if self.head.maxt >= self.head.mint:
            lows.append(self.head.mint)
        if lows:
            m.lowest_timestamp.set(min(lows))

    # --- what a querier reads through (``source.SourceCatalog``) ----------------------------

    @property
    def read_lock(self) -> threading.RLock:
        return self._lock

    def head_cuts(self) -> int:
        return self._head_cuts

    def acquire_sources(self, mint: int, maxt: int, covered: Collection[str]) -> list[SeriesSource]:
        with self._lock:
            blocks = [
                b for b in self.blocks
                if b.maxt >= mint and b.mint <= maxt and not (covered and set(b.sources) <= set(covered))
            ]
            for b in blocks:
                b.acquire()
            return [*blocks, self.head]

    # --- housekeeping -----------------------------------------------------------------------

    def maintain(self, now_ms: int | None = None) -> MaintenanceReport:
        """Cut, checkpoint, compact and expire as needed; cheap when there is nothing to do.

        ``now_ms`` is accepted for the server's convenience; decisions follow the data's own
        timestamps (as Prometheus does), so replayed or backfilled data behaves the same.
        Writing a block cut from the head runs without the lock (appends and queries go
        on); merging head spans, compaction and retention hold it.
        """
        rep = MaintenanceReport()
        if self.read_only:
            return rep
        with self._maintain_lock:
            with self._lock:
                self.head.merge_spans()
            self._cut_head(rep)
            with self._lock:
                self._collect_garbage()
                self._compact(rep)
                self._retain(rep)
                self._update_gauges()
        # Commits free their temporaries into the allocator's heap, which keeps much of
        # it resident; a periodic trim (a few ms, once a minute) gives it back.
        release_free_memory()
        return rep

    def _cut_due(self) -> bool:
        """Whether the head should be cut now (call with the lock held): its in-order data
        spans more than 1.5 block ranges, or late samples (below its lower bound) wait and
        either there are many or no in-order data will bring a cut."""
        h = self.head
        r = self.options.block_range_ms
        lo = max(min(h.mint, self.histograms.mint), h.min_valid_t)
        hi = max(h.maxt, self.histograms.max_t)
        if hi >= lo and hi - lo > r * 3 // 2:
            return True
        hs = self.histograms
        late_hist = hs.mint < hs.min_valid_t
        if (h.mint >= h.min_valid_t or not h.ooo) and not late_hist:
            return False
        late = (h.late_samples() if h.ooo else 0) + (hs.late_samples() if late_hist else 0)
        return h.maxt < h.min_valid_t or late >= self.options.ooo_late_flush_samples

    def _cut_head(self, rep: MaintenanceReport) -> None:
        """Write the head's oldest block range(s) into blocks and drop them from the head.

        Late samples go first: their range is below the head's lower bound, so their block
        overlaps one written before (or a compacted one) and ``_compact`` merges the two.
        Such a block ends at the lower bound at most, so it never takes in-order data early.

        Only the ranges due when the cut began are cut: appends go on while a block is
        written, and judged against the growing head the loop would never end if they
        bring more than a block range of data per block written (a backfill, a sender
        catching up, a test appending in a tight loop).  Maintenance would then hold its
        lock forever and never reach compaction, retention or the checkpoint.  Ranges that
        became due meanwhile are cut by the next call.
        """
        h = self.head
        hs = self.histograms
        r = self.options.block_range_ms
        cut = False
        with self._lock:
            due = self._cut_due()
            newest = max(h.maxt, hs.max_t)
        last_start: int | None = None
        while due:
            with self._lock:
                # late samples (or older head data) wait
                below = h.mint < h.min_valid_t or hs.mint < hs.min_valid_t
                lo = min(h.mint, hs.mint)  # native histogram samples are cut with the floats
                if not below and not (newest >= lo and newest - lo > r * 3 // 2):
                    break
                start = (lo // r) * r
                if last_start is not None and start <= last_start:
                    break  # late samples that came while that range was written: next time
                last_start = start
                end = start + r
                if below and start < h.min_valid_t:
                    end = min(end, h.min_valid_t)
                # From here on the head takes no in-order sample below the cut; late samples
                # that come meanwhile are not in the view and stay for the next cut.
                h.min_valid_t = max(h.min_valid_t, end)
                hs.min_valid_t = max(hs.min_valid_t, end)
                view = h.frozen_before(end)
                hview = hs.frozen_before(end)
            path = write_block(
                self.path, [view], start, end, level=1, page_rows=self.options.block_page_rows,
                zstd_level=self.options.block_zstd_level, hist_sources=[hview],
            )
            with self._lock:
                if path is not None:
                    self.blocks.append(Block(path, self._on_block_corrupt))
                    self.blocks.sort(key=block_order)
                    rep.blocks_cut.append(path.name)
                h.truncate(end, view.ooo)
                hs.drop_frozen(hview)  # the WAL keeps them until the checkpoint below
                self._head_cuts += 1
                self.metrics.head_truncations.inc()
            cut = True
        if cut:
            with self._lock:
                self._collect_garbage()  # before the checkpoint: it carries only live series
            self.checkpoint()

    def checkpoint(self) -> None:
        """Replace the WAL written so far by a checkpoint of the head as it is now."""
        with self._lock:
            if self._wal is None:
                return
            upto = self._wal.rotate()
            keep_from = self._wal_keep_from(upto)
            wal.write_checkpoint(self.path / "wal", upto, self._checkpoint_records(), keep_from)
            self.metrics.checkpoints.inc()
            self.metrics.wal_truncations.inc()

    def _wal_keep_from(self, upto: int) -> int | None:
        """The first segment up to ``upto`` a checkpoint must not delete, or None.

        A remote write queue reads the WAL, not the head: deleting segments it has not sent
        would lose those samples for good (a receiver down across a head cut).  The segments
        from the slowest queue's saved position on are kept, at most
        ``wal_keep_for_remote_bytes`` of them; beyond that the oldest go, and the loss is
        logged here as well as by the queue when it finds them gone."""
        if self.wal_readers is None:
            return None
        try:
            needed = self.wal_readers()
        except Exception:  # a reader's state that cannot be read must not stop checkpoints
            log.exception("event=wal_readers_unknown action=checkpoint_without_keeping")
            return None
        if needed is None or needed > upto:
            return None
        waldir = self.path / "wal"
        segs = [s for s in wal.list_segments(waldir) if needed <= s <= upto]
        budget = self.options.wal_keep_for_remote_bytes
        total = 0
        keep_from: int | None = None
        for s in reversed(segs):  # the newest first: an outage's oldest samples go first
            size = 0
            with contextlib.suppress(FileNotFoundError):
                size = (waldir / wal.segment_name(s)).stat().st_size
            if total + size > budget:
                break
            total += size
            keep_from = s
        dropped = [s for s in segs if keep_from is None or s < keep_from]
        if dropped:
            log.warning("event=wal_unsent_segments_deleted segments=%d first=%d last=%d limit_bytes=%d "
                        "reason=%r", len(dropped), dropped[0], dropped[-1], budget,
                        "remote write has not sent them and keeping them would pass "
                        "--storage.remote.wal-keep-size")
        if keep_from is not None:
            log.info("event=wal_segments_kept_for_remote_write first=%d upto=%d bytes=%d", keep_from,
                     upto, total)
        return keep_from

    def _checkpoint_records(self) -> Iterator[bytes]:
        yield from self.head.checkpoint_records()
        self._pending_series = bytearray()  # the checkpoint holds every series now
        for payload in self.histograms.records():
            yield wal.frame(wal.REC_HISTOGRAMS, payload)
        for payload in self.histograms.records(late=True):
            yield wal.frame(wal.REC_HISTOGRAMS_LATE, payload)

    def _compact(self, rep: MaintenanceReport) -> None:
        while True:
            p = plan(self.blocks, self.options.compaction_ranges())
            if p is None:
                return
            sources = sorted({s for b in p.blocks for s in b.sources})
            try:
                path = write_block(
                    self.path, p.blocks, p.mint, p.maxt_excl,
                    level=max(b.level for b in p.blocks) + 1, block_sources=sources,
                    page_rows=self.options.block_page_rows, zstd_level=self.options.block_zstd_level,
                    hist_sources=[b.histograms for b in p.blocks if b.histograms is not None],
                )
            except (OSError, ValueError) as e:
                self.metrics.compactions_failed.inc()
                log.error("event=compaction_failed blocks=%s error=%r", [b.ulid for b in p.blocks], e)
                return
            self.metrics.compactions.inc()
            if p.vertical:
                self.metrics.vertical_compactions.inc()
            for b in p.blocks:
                self._delete_block(b)
            if path is not None:
                nb = Block(path, self._on_block_corrupt)
                self.blocks.append(nb)
                rep.compacted.append(nb.ulid)
                log.info("event=compacted into=%s from=%d reason=%r", nb.ulid, len(p.blocks), p.reason)
            self.blocks.sort(key=block_order)

    def _delete_block(self, b: Block) -> None:
        self.blocks = [x for x in self.blocks if x is not b]
        b.close()
        # Rename first: a crash halfway through deleting must not leave a block that
        # looks complete.  ``*.tmp`` directories are removed on open.
        doomed = b.path.with_name(b.path.name + ".deleting.tmp")
        try:
            os.replace(b.path, doomed)
        except OSError:
            doomed = b.path
        shutil.rmtree(doomed, ignore_errors=True)

    def set_out_of_order_window(self, ms: int) -> None:
        """``storage.tsdb.out_of_order_time_window`` from a (re)loaded config: samples up to
        ``ms`` older than their series' newest are accepted from now on."""
        with self._lock:
            self.options = dataclasses.replace(self.options, out_of_order_time_window_ms=ms)
            self.head.ooo_window = ms

    def wal_bytes(self) -> int:
        """Bytes of the WAL directory: segments and checkpoint, which is where the head lives
        on disk (a checkpoint holds the head's compressed pages as they are)."""
        total = 0
        for f in (self.path / "wal").rglob("*"):
            with contextlib.suppress(OSError):
                if f.is_file():
                    total += f.stat().st_size
        return total

    def _retain(self, rep: MaintenanceReport) -> None:
        """Time retention, then size retention over blocks plus the WAL and head, as Prometheus
        counts ``--storage.tsdb.retention.size``: the oldest blocks go until all fits.  Native
        histograms are in the blocks and go with them."""
        opts = self.options
        head_bytes = self.wal_bytes() if opts.retention_bytes > 0 else 0
        for b, why in expired(self.blocks, opts.retention_ms, opts.retention_bytes, head_bytes):
            self._delete_block(b)
            rep.deleted.append((b.ulid, why))
            (self.metrics.time_retentions if why == "time" else self.metrics.size_retentions).inc()
            log.info("event=block_deleted block=%s reason=retention_%s", b.ulid, why)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self, out: str | Path, with_head: bool = True) -> list[str]:
        """A consistent copy of the store's data as blocks in ``out``; returns block names.

        Blocks are immutable, so they are hard-linked (copied across file systems); the
        head (its native histogram samples too) is written as one more block.  Taken under the
        lock: appends wait meanwhile.
        """
        dest = Path(out)
        dest.mkdir(parents=True, exist_ok=True)
        names: list[str] = []
        with self._lock:
            for b in self.blocks:
                _link_tree(b.path, dest / b.path.name)
                names.append(b.path.name)
            h = self.head
            hview = self.histograms.frozen_before(2**63 - 1)
            span = hview.span()
            lo = min(h.mint, span[0]) if span else h.mint
            hi = max(h.maxt, span[1]) if span else h.maxt
            if with_head and hi >= lo:
                path = write_block(
                    dest, [h], lo, hi + 1, page_rows=self.options.block_page_rows,
                    zstd_level=self.options.block_zstd_level, hist_sources=[hview],
                )
                if path is not None:
                    names.append(path.name)
        return names

    def head_stats(self, metric_label: str = "__name__", limit: int = 10) -> HeadStats:
        """What ``/api/v1/status/tsdb`` shows: the head's size and time range, and cardinality
        from its index (series per metric, values per label, series per label pair)."""
        with self._lock:
            h = self.head
            return HeadStats(
                num_series=h.num_series,
                chunk_count=h.num_chunks(),
                min_time=h.mint,
                max_time=h.maxt,
                postings=h.index.postings_stats(metric_label, limit),
            )

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "head_series": self.head.num_series,
                "head_samples": self.head.num_samples(),
                "head_chunk_bytes": self.head.chunk_bytes(),
                "head_chunks": self.head.num_chunks(),
                "blocks": len(self.blocks),
                "block_samples": sum(b.num_samples for b in self.blocks),
                "block_bytes": sum(b.size_bytes() for b in self.blocks),
            }


def _join(parts: list[tuple[list[Labels], I64, HistCols, list[object]]]
          ) -> tuple[list[Labels], I64, HistCols, list[object]]:
    """Batches of one commit back to back (one WAL record, one ``add_columns``)."""
    if len(parts) == 1:
        return parts[0]
    return ([x for p in parts for x in p[0]], np.concatenate([p[1] for p in parts]),
            HistCols.concat([p[2] for p in parts]), [x for p in parts for x in p[3]])


def _link_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.rglob("*"):
        target = dst / p.relative_to(src)
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(p, target)
        except OSError:
            shutil.copy2(p, target)


class TSDBAppender:
    """Queues samples until ``commit``; nothing is visible before it returns.

    A commit is one set of samples: they are applied in (series, timestamp) order, and
    among samples with the same series and timestamp the one queued first wins.
    """

    def __init__(self, db: TSDB) -> None:
        self._db = db
        # the GC epoch this appender's refs belong to (``TSDB.ref_epoch``).  Once it hands out a
        # ref or queues a sample it is *active* and the store defers GC until it commits or
        # rolls back; a GC before that moves it to the new epoch (refs the caller kept from
        # earlier appenders are translated at commit, one GC back at most).
        self.ref_epoch = db.ref_epoch
        self._mixed = False
        self._active = False
        self._chunks: list[tuple[I64, int | I64, F64]] = []
        self._one_r: list[int] = []
        self._one_t: list[int] = []
        self._one_v: list[float] = []
        self._hists: list[HistogramSample] = []
        self._hbatches: list[tuple[list[Labels], I64, HistCols]] = []

    def _activate(self) -> None:
        if not self._active:
            self._db._active_appenders.add(self)
            self._active = True

    def pin(self) -> int:
        """Hold GC off from now to the commit, and return the epoch this appender's refs
        belong to.

        A caller with refs cached from earlier appenders (a scrape loop, the remote-write
        receiver) calls this right before using them and compares the epoch with its cache's.
        Reading ``ref_epoch`` alone is not enough: until the appender is active a GC (in the
        maintenance thread) may run, and the first ``ref`` then moves the appender to the new
        numbering while the caller's cached refs are still in the old one."""
        with self._db._lock:
            if not self._active:
                self._db._active_appenders.add(self)
                self._active = True
                self.ref_epoch = self._db.ref_epoch
            return self.ref_epoch

    def ref(self, labels: Labels) -> SeriesRef:
        was_active = self._active
        self._activate()
        ref, epoch = self._db._ref_at(labels)
        if epoch != self.ref_epoch:
            if was_active:
                self._mixed = True  # cannot happen while GC waits for active appenders
            else:
                self.ref_epoch = epoch
        return ref

    def ref_many(self, sets: list[Labels]) -> list[SeriesRef]:
        """``ref`` of many label sets (a scrape's new series) in one call: one lock, one
        index pass, one growth of the head's arrays."""
        if not sets:
            return []
        was_active = self._active
        self._activate()
        refs, epoch = self._db._refs_at(sets)
        if epoch != self.ref_epoch:
            if was_active:
                self._mixed = True
            else:
                self.ref_epoch = epoch
        return refs

    def translate(self, refs: I64, epoch: int) -> I64 | None:
        """Refs kept from an appender of GC epoch ``epoch`` in this appender's numbering
        (-1 for dropped series), or None when too old; see ``TSDB.translate_refs``."""
        if epoch == self.ref_epoch:
            return refs
        if epoch != self.ref_epoch - 1 or self._db.ref_epoch != self.ref_epoch:
            return None
        return self._db.translate_refs(refs, epoch)

    def append(self, ref: SeriesRef | Labels, t: int, v: float) -> None:
        self._activate()
        r = self.ref(ref) if isinstance(ref, Labels) else int(ref)
        if r < 0 or (self._db.ref_epoch == self.ref_epoch and r >= self._db.head.num_series):
            raise AppendError(f"unknown series ref {r}: get refs from Appender.ref(labels)")
        self._one_r.append(r)
        self._one_t.append(int(t))
        self._one_v.append(float(v))

    def append_histogram(self, ref: SeriesRef | Labels, t: int, h: FloatHistogram) -> None:
        """A native histogram sample (the series is known by its label set from here on).

        A histogram whose sum is the staleness marker (how Prometheus marks a native
        histogram series stale, in remote write too) is stored as the float marker."""
        if is_stale_nan(h.sum):
            self.append(ref, t, STALE_NAN)
            return
        self._activate()
        if isinstance(ref, Labels):
            labels = ref
            self.ref(ref)  # the series is listed by the label APIs like any other
        else:
            with self._db._lock:
                if self._db.ref_epoch != self.ref_epoch or not 0 <= int(ref) < self._db.head.num_series:
                    raise AppendError(f"unknown series ref {ref}: get refs from Appender.ref(labels)")
                labels = self._db.head.index.labels_of(np.array([int(ref)], dtype=np.int64))[0]
        self._hists.append((labels, int(t), h))

    def append_histograms(self, refs: npt.NDArray[np.int64] | Sequence[SeriesRef],
                          t: int | npt.NDArray[np.int64], cols: HistCols) -> None:
        """One native histogram per ref, all at timestamp ``t`` (or each at its own: ``t``
        an array beside ``refs``, as remote write sends them), as columns
        (``model.histcols``: position ``k`` of ``cols`` is ``refs[k]``'s histogram): the
        batch form of ``append_histogram``, with no Python object per histogram on the way
        to the head and the WAL, taken in the order given.  Histograms whose sum is the
        staleness marker are stored as the float marker, as ``append_histogram`` does."""
        r = np.asarray(refs, dtype=np.int64)
        if r.ndim != 1 or cols.lid.shape != r.shape or bool((cols.lid < 0).any()):
            raise AppendError(f"append_histograms needs one histogram per ref (got {r.shape} refs and "
                              f"{cols.lid.shape} positions)")
        ts = np.full(r.shape[0], int(t), dtype=np.int64) if np.ndim(t) == 0 else np.asarray(t, dtype=np.int64)
        if ts.shape != r.shape:
            raise AppendError(f"append_histograms needs one timestamp per ref (got {ts.shape} timestamps "
                              f"and {r.shape} refs)")
        for k, layout in enumerate(cols.layouts):
            why = layout.problem()
            if why is not None:
                raise AppendError(f"append_histograms: layout {k}: {why}")
        if r.size and (int(cols.lid.max()) >= len(cols.layouts) or int(cols.row.min()) < 0 or any(
                int(cols.row[cols.lid == li].max()) >= cols.layouts[li].m.shape[0]
                for li in np.unique(cols.lid).tolist())):
            raise AppendError("append_histograms: a position names a layout or a row that is not there")
        self._activate()
        with self._db._lock:
            if r.size and (self._db.ref_epoch != self.ref_epoch or int(r.min()) < 0
                           or int(r.max()) >= self._db.head.num_series):
                raise AppendError("append_histograms got an unknown series ref: "
                                  "get refs from Appender.ref(labels)")
            labels = self._db.head.index.labels_of(r)
        sums = np.empty(r.shape[0], dtype=np.float64)
        for li in np.unique(cols.lid).tolist():
            at = cols.lid == li
            sums[at] = cols.layouts[li].m[cols.row[at], 2]
        stale = sums.view(np.uint64) == np.uint64(STALE_NAN_BITS)
        if stale.any():
            for ref, st in zip(r[stale].tolist(), ts[stale].tolist(), strict=True):
                self.append(ref, st, STALE_NAN)
            keep = ~stale
            labels = [ls for ls, k in zip(labels, keep.tolist(), strict=True) if k]
            r, ts, cols = r[keep], ts[keep], cols.take(keep)
        if labels:
            self._hbatches.append((list(labels), ts, cols))

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
        if r.size and (int(r.min()) < 0 or (self._db.ref_epoch == self.ref_epoch
                                              and int(r.max()) >= self._db.head.num_series)):
            raise AppendError("append_batch got an unknown series ref: get refs from Appender.ref(labels)")
        self._activate()
        self._flush_singles()
        self._chunks.append((r, int(t), v))

    def _flush_singles(self) -> None:
        if self._one_r:
            self._chunks.append(
                (
                    np.array(self._one_r, dtype=np.int64),
                    np.array(self._one_t, dtype=np.int64),
                    np.array(self._one_v, dtype=np.float64),
                )
            )
            self._one_r, self._one_t, self._one_v = [], [], []

    def commit(self) -> AppendStats:
        self._flush_singles()
        hists, hbatches = self._hists, self._hbatches
        if hists or hbatches:
            self._hists, self._hbatches = [], []
            try:
                hstats = self._db._commit_histograms(hists, hbatches)
            except BaseException:
                self.rollback()
                raise
            fstats = self.commit()
            return AppendStats(*(a + b for a, b in zip(dataclasses.astuple(hstats),
                                                      dataclasses.astuple(fstats), strict=True)))
        chunks = self._chunks
        mixed, epoch = self._mixed, self.ref_epoch
        self.rollback()
        if not chunks:
            return AppendStats()
        if mixed:
            raise AppendError("a series garbage collection ran while this appender was open: its refs "
                              "mix two numberings; nothing was appended")
        if len(chunks) == 1:
            return self._db._commit(*chunks[0], epoch=epoch, checked=True)
        t0 = chunks[0][1]
        if all(isinstance(c[1], int) and c[1] == t0 for c in chunks):
            # A scrape: its samples, staleness markers and report series share one timestamp.
            # Kept as one int, the WAL record needs no timestamp column and the head appends
            # them as one round when the refs are distinct (the same order rule holds: a
            # repeated ref goes through the sorting path, first queued first).
            return self._db._commit(np.concatenate([c[0] for c in chunks]), t0,
                                    np.concatenate([c[2] for c in chunks]), epoch=epoch, checked=True)
        refs = np.concatenate([c[0] for c in chunks])
        ts = np.concatenate(
            [np.full(c[0].shape[0], c[1], dtype=np.int64) if isinstance(c[1], int) else c[1] for c in chunks]
        )
        vs = np.concatenate([c[2] for c in chunks])
        return self._db._commit(refs, ts, vs, epoch=epoch, checked=True)

    def rollback(self) -> None:
        self._mixed = False
        if self._active:
            self._db._active_appenders.discard(self)
            self._active = False
        self.ref_epoch = self._db.ref_epoch
        self._chunks = []
        self._one_r = []
        self._one_t = []
        self._one_v = []
        self._hists = []
        self._hbatches = []
