"""The embedded log store: streams (label sets) with an open head and closed zstd chunks.

A push goes to the WAL first, then to each stream's head (two list ``extend`` calls per
stream).  A head is cut into chunks when it holds ``chunk_target_bytes`` of text, when it is
older than ``max_chunk_age_ms``, or when the WAL has grown past ``max_wal_segments``; chunks
are appended to chunk segment files and described by records in an append-only index file,
each record remembering the WAL sequence its head covered so replay never adds a line twice.
Retention deletes whole chunk segments by age and by total size.

Cut heads are compressed at zstd's fast level (``chunk.FAST_LEVEL``) so ingestion spends
little CPU on them; ``compact`` later rewrites the segments holding such chunks (or holding
space freed by deletions) at ``chunk.LEVEL``, the level the storage target needs, into new
segments, swaps the index atomically and removes the old segments.  It runs from
``maintain`` once no push has come for ``compact_idle_s`` seconds; while pushes trickle in
(below ``compact_busy_lines_per_s``) for the closed segments and, once it holds
``compact_min_bytes`` of fast chunks, the one being appended to; under heavy ingestion only
when fast chunks pile up past ``compact_backlog_bytes``.

Layout under ``path``: ``wal/NNNNNNNN`` (WAL segments), ``chunks/NNNNNNNN`` (chunk
segments), ``index`` (streams and chunk records, CRC framed).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import orjson

from guardia.logs import chunk as chunkfmt
from guardia.logs.chunk import ChunkMeta, Lines
from guardia.logs.errors import LimitError, PushError
from guardia.logs.wal import Wal, WalEntry
from guardia.model.labels import Labels, is_valid_label_name
from guardia.model.matchers import Matcher, MatchType

log = logging.getLogger("guardia.logs")

_FRAME = struct.Struct("<II")
_CHUNK_REC = struct.Struct("<IIQIqqIQQ")  # stream, segment, offset, length, mint, maxt, lines, raw, cut_seq
MS = 1_000_000  # nanoseconds per millisecond


@dataclass
class StoreOptions:
    chunk_target_bytes: int = 2 << 20
    max_chunk_age_ms: int = 3600 * 1000
    retention_ms: int = 31 * 24 * 3600 * 1000
    retention_bytes: int = 0
    max_streams: int = 10_000
    max_line_bytes: int = 256 << 10
    max_labels_per_stream: int = 15
    chunk_segment_bytes: int = 256 << 20
    wal_segment_bytes: int = 64 << 20
    max_wal_segments: int = 4
    fsync: bool = False
    cache_bytes: int = 64 << 20
    # level of chunks cut on the ingest path; compaction brings them to chunk.LEVEL
    cut_level: int = chunkfmt.FAST_LEVEL
    compact_idle_s: float = 10.0
    # below this push rate the store is not busy: closed segments are compacted at each
    # maintenance pass, and the segment being appended to once it holds compact_min_bytes
    compact_busy_lines_per_s: float = 20_000.0
    compact_min_bytes: int = 16 << 20
    compact_backlog_bytes: int = 1 << 30


@dataclass(slots=True)
class PushStream:
    """One stream of a push request: its labels, nanosecond timestamps and lines."""

    labels: Labels
    ts: Sequence[int] | npt.NDArray[np.int64]
    lines: list[bytes]
    meta: list[bytes] | None = None  # per line structured metadata (chunk.encode_metadata)


@dataclass(slots=True)
class _Pending:
    """A cut head waiting for compression, as chunk-sized pieces: still readable, still in the
    WAL.  Its chunks reach the index in one record, so a crash leaves all of them or none."""

    stream: Stream
    pieces: list[Lines]
    first_seq: int
    last_seq: int


@dataclass
class Stream:
    id: int
    labels: Labels
    chunks: list[ChunkMeta] = field(default_factory=list)
    head_ts: list[int] = field(default_factory=list)
    head_lines: list[bytes] = field(default_factory=list)
    head_meta: list[bytes] | None = None  # only once a line with structured metadata came
    head_bytes: int = 0
    head_sorted: bool = True
    head_first_seq: int = 0
    head_last_seq: int = 0
    head_started: float = 0.0
    cut_seq: int = 0
    mint: int = 1 << 62
    maxt: int = -(1 << 62)
    pending: list[_Pending] = field(default_factory=list)
    _head_view: Lines | None = None

    def overlaps(self, start: int, end: int) -> bool:
        return self.mint < end and self.maxt >= start

    def head_lines_view(self) -> Lines:
        """The head as sorted ``Lines``, rebuilt only after it changed."""
        if self._head_view is None or len(self._head_view) != len(self.head_ts):
            ts = np.asarray(self.head_ts, dtype=np.int64)
            lines = self.head_lines
            meta = self.head_meta
            if not self.head_sorted:
                order = np.argsort(ts, kind="stable")
                ts = ts[order]
                lines = [lines[i] for i in order.tolist()]
                if meta is not None:
                    meta = [meta[i] for i in order.tolist()]
            self._head_view = Lines.from_list(ts, lines, None if meta is None else list(meta))
        return self._head_view


class LogStore:
    def __init__(self, path: str | os.PathLike[str], options: StoreOptions | None = None) -> None:
        self.path = Path(path)
        self.opts = options or StoreOptions()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "chunks").mkdir(exist_ok=True)
        self._lock = threading.RLock()
        self.streams: list[Stream | None] = []
        self._by_labels: dict[Labels, Stream] = {}
        self._postings: dict[str, dict[str, set[int]]] = {}
        self._seq = 0
        self._cache: OrderedDict[tuple[int, int], Lines] = OrderedDict()
        self._cache_bytes = 0
        self._segment_files: dict[int, int] = {}
        self._compressor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="logs-compress")
        self._futures: list[concurrent.futures.Future[None]] = []
        self._segment_maxt: dict[int, int] = {}
        # maintenance (cuts, retention, compaction, deletion) one at a time; ingestion and
        # queries only take _lock, which compaction holds only to swap chunk references
        self._maint_lock = threading.Lock()
        self._last_push = 0.0
        self._rate_lines = 0
        self._rate_since = time.monotonic()
        self.lines_total = 0
        self.bytes_total = 0
        self._load_index()
        self._remove_unreferenced_segments()
        chunk_segs = self._chunk_segments()
        self._max_seg = chunk_segs[-1] if chunk_segs else 0
        self._chunk_seg = self._alloc_segment()
        self.wal = Wal(self.path / "wal", self.opts.wal_segment_bytes, self.opts.fsync)
        self._replay()
        self._chunk_f = open(self._chunk_path(self._chunk_seg), "ab")  # noqa: SIM115
        self._index_f = open(self.path / "index", "ab")  # noqa: SIM115
        self.closed = False
        self._closing = False  # set by close(): a running compaction stops and leaves no trace

    # ---------------------------------------------------------------- open

    def _chunk_path(self, seg: int) -> Path:
        return self.path / "chunks" / f"{seg:08d}"

    def _chunk_segments(self) -> list[int]:
        return sorted(int(p.name) for p in (self.path / "chunks").iterdir() if p.name.isdigit())

    def _alloc_segment(self) -> int:
        """A segment number never used before (appends and compaction output both take one)."""
        self._max_seg += 1
        return self._max_seg

    def _referenced_segments(self) -> set[int]:
        return {c.segment for s in self.streams if s is not None for c in s.chunks}

    def _remove_unreferenced_segments(self) -> None:
        """Segments no index record names: compaction output or an append cut short by a
        crash before the index swap (their lines are still in the WAL or in the old
        segments), or old segments a crash kept after the swap."""
        used = self._referenced_segments()
        for seg in self._chunk_segments():
            if seg not in used:
                self._chunk_path(seg).unlink(missing_ok=True)

    def _load_index(self) -> None:
        p = self.path / "index"
        if not p.exists():
            return
        data = p.read_bytes()
        pos = 0
        while pos + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, pos)
            payload = data[pos + _FRAME.size : pos + _FRAME.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            self._apply_index_record(payload)
            pos += _FRAME.size + length
        if pos < len(data):
            with open(p, "r+b") as f:
                f.truncate(pos)

    def _apply_index_record(self, payload: bytes) -> None:
        kind = payload[:1]
        if kind == b"S":
            sid = struct.unpack_from("<I", payload, 1)[0]
            labels = Labels.from_sorted(tuple((k, v) for k, v in orjson.loads(payload[5:])))
            self._install_stream(sid, labels)
        elif kind in (b"G", b"F"):  # F: chunks at the fast cut level
            (count,) = struct.unpack_from("<I", payload, 1)
            for i in range(count):
                self._apply_chunk_record(payload, 5 + i * _CHUNK_REC.size, kind == b"F")
        elif kind in (b"C", b"c"):
            self._apply_chunk_record(payload, 1, kind == b"c")
        elif kind == b"Q":  # the WAL sequence a stream's chunks cover, kept when it has none left
            sid, cut_seq = struct.unpack_from("<IQ", payload, 1)
            st = self.streams[sid] if sid < len(self.streams) else None
            if st is not None:
                st.cut_seq = max(st.cut_seq, cut_seq)
                self._seq = max(self._seq, cut_seq)

    def _apply_chunk_record(self, payload: bytes, pos: int, fast: bool = False) -> None:
        sid, seg, off, ln, mint, maxt, nlines, raw, cut_seq = _CHUNK_REC.unpack_from(payload, pos)
        s = self.streams[sid]
        if s is None or not self._chunk_path(seg).exists():
            return
        s.chunks.append(ChunkMeta(seg, off, ln, mint, maxt, nlines, raw, fast))
        s.cut_seq = max(s.cut_seq, cut_seq)
        s.mint = min(s.mint, mint)
        s.maxt = max(s.maxt, maxt)
        self._segment_maxt[seg] = max(self._segment_maxt.get(seg, maxt), maxt)
        self._seq = max(self._seq, cut_seq)

    def _install_stream(self, sid: int, labels: Labels) -> Stream:
        while len(self.streams) <= sid:
            self.streams.append(None)
        s = Stream(sid, labels)
        self.streams[sid] = s
        self._by_labels[labels] = s
        for k, v in labels:
            self._postings.setdefault(k, {}).setdefault(v, set()).add(sid)
        return s

    def _replay(self) -> None:
        n = 0
        for _seg, seq, entries in self.wal.replay():
            self._seq = max(self._seq, seq)
            for e in entries:
                s = self.streams[e.stream] if e.stream < len(self.streams) else None
                if s is None or seq <= s.cut_seq:
                    continue
                self._to_head(s, seq, e.ts.tolist(), e.lines, int(e.lengths.sum()), e.meta)
                n += len(e.lines)
        if n:
            log.info("event=logs_wal_replayed lines=%d", n)

    # ---------------------------------------------------------------- write

    def _write_index(self, payload: bytes) -> None:
        self._index_f.write(_FRAME.pack(len(payload), zlib.crc32(payload)) + payload)

    def _new_stream(self, labels: Labels) -> Stream:
        sid = len(self.streams)
        s = self._install_stream(sid, labels)
        # the stream record must reach the index before WAL records that name its id
        self._write_index(b"S" + struct.pack("<I", sid) + orjson.dumps([list(p) for p in labels]))
        self._index_f.flush()
        return s

    def _check_labels(self, labels: Labels) -> str | None:
        if not labels:
            return 'a stream needs at least one label, e.g. {job="app"}'
        if len(labels) > self.opts.max_labels_per_stream:
            return (
                f"stream {labels} has {len(labels)} labels, more than the limit of "
                f"{self.opts.max_labels_per_stream} (logs.limits.max_labels_per_stream)"
            )
        for k, _ in labels:
            if not is_valid_label_name(k):
                return f"invalid label name {k!r} in stream {labels}: use [a-zA-Z_][a-zA-Z0-9_]*"
        return None

    def push(self, streams: Iterable[PushStream]) -> int:
        """Store every valid stream's lines; raise ``PushError`` naming the refused ones.

        Lines are in the WAL (flushed to the OS) before this returns.
        """
        problems: list[str] = []
        accepted = 0
        with self._lock:
            if self.closed:
                raise LimitError("the log store is closed")
            entries: list[WalEntry] = []
            targets: list[Stream] = []
            heads: list[list[int]] = []
            for ps in streams:
                if not ps.lines:
                    continue
                s = self._by_labels.get(ps.labels)
                if s is None:
                    bad = self._check_labels(ps.labels)
                    if bad is not None:
                        problems.append(bad)
                        continue
                    if len(self._by_labels) >= self.opts.max_streams:
                        problems.append(
                            f"stream limit of {self.opts.max_streams} active streams reached, stream "
                            f"{ps.labels} refused: drop high-cardinality labels (request ids, user ids) "
                            "or raise logs.limits.max_streams"
                        )
                        continue
                    s = self._new_stream(ps.labels)
                lines = ps.lines
                meta = ps.meta if ps.meta is not None and any(ps.meta) else None
                lengths = np.fromiter(map(len, lines), dtype=np.uint32, count=len(lines))
                if self.opts.max_line_bytes and int(lengths.max()) > self.opts.max_line_bytes:
                    keep = [i for i, ln in enumerate(lines) if len(ln) <= self.opts.max_line_bytes]
                    problems.append(
                        f"{len(lines) - len(keep)} line(s) of stream {ps.labels} exceed "
                        f"{self.opts.max_line_bytes} bytes (logs.limits.max_line_size) and were refused"
                    )
                    ts_all = list(ps.ts)
                    lines = [lines[i] for i in keep]
                    if meta is not None:
                        meta = [meta[i] for i in keep]
                    tsl: Sequence[int] | npt.NDArray[np.int64] = [ts_all[i] for i in keep]
                    lengths = lengths[keep]
                    if not lines:
                        continue
                else:
                    tsl = ps.ts
                entries.append(WalEntry(s.id, np.asarray(tsl, dtype=np.int64), lines, lengths, meta))
                targets.append(s)
                heads.append(tsl if isinstance(tsl, list) else list(tsl))
            if entries:
                self._last_push = time.monotonic()
                self._seq += 1
                seq = self._seq
                self.wal.append(seq, entries)
                for s, e, tsl in zip(targets, entries, heads, strict=True):
                    self._to_head(s, seq, tsl, e.lines, int(e.lengths.sum()), e.meta)
                    accepted += len(e.lines)
                full = [s for s in targets if s.head_bytes >= self.opts.chunk_target_bytes]
                if full:
                    self._cut(full)
        if problems:
            raise PushError(problems, accepted)
        return accepted

    def _to_head(
        self, s: Stream, seq: int, ts: list[int], lines: list[bytes], nbytes: int,
        meta: list[bytes] | None = None,
    ) -> None:
        if meta is not None:
            if s.head_meta is None:
                s.head_meta = [b""] * len(s.head_lines)
            s.head_meta.extend(meta)
        elif s.head_meta is not None:
            s.head_meta.extend([b""] * len(lines))
        if not s.head_ts:
            s.head_first_seq = seq
            s.head_started = time.monotonic()
        if s.head_sorted and ts:
            last = s.head_ts[-1] if s.head_ts else -(1 << 63)
            if ts[0] < last or ts != sorted(ts):
                s.head_sorted = False
        s.head_ts.extend(ts)
        s.head_lines.extend(lines)
        s.head_bytes += nbytes
        s.head_last_seq = seq
        s._head_view = None
        if ts:
            s.mint = min(s.mint, min(ts) if not s.head_sorted else ts[0])
            s.maxt = max(s.maxt, max(ts) if not s.head_sorted else ts[-1])
        self.lines_total += len(lines)
        self.bytes_total += nbytes

    def _cut(self, streams: Iterable[Stream]) -> int:
        """Close the heads of ``streams`` into chunks of ~``chunk_target_bytes``.

        The heads are emptied at once; the pieces stay readable as pending chunks while a
        background thread compresses them (zstd releases the GIL, so ingestion goes on on the
        other core) and writes them out.  Returns the number of chunks queued."""
        queued = 0
        target = self.opts.chunk_target_bytes
        for s in streams:
            if not s.head_ts:
                continue
            view = s.head_lines_view()
            n = len(view)
            sizes = np.cumsum(view.sizes())
            start = 0
            pieces: list[Lines] = []
            while start < n:
                base = int(sizes[start - 1]) if start else 0
                stop = int(np.searchsorted(sizes, base + target, side="right"))
                stop = min(max(stop, start + 1), n)
                pieces.append(view if (start == 0 and stop == n) else view.take(np.arange(start, stop)))
                start = stop
            p = _Pending(s, pieces, s.head_first_seq, s.head_last_seq)
            s.pending.append(p)
            self._futures.append(self._compressor.submit(self._compress, p))
            queued += len(pieces)
            s.head_ts = []
            s.head_lines = []
            s.head_meta = None
            s.head_bytes = 0
            s.head_sorted = True
            s._head_view = None
        self._futures = [f for f in self._futures if not f.done()]
        return queued

    def _compress(self, p: _Pending) -> None:
        try:
            encoded = [chunkfmt.encode_lines(piece, self.opts.cut_level) for piece in p.pieces]
            with self._lock:
                if self.closed and self._chunk_f.closed:
                    return
                self._write_chunks(p, encoded)
        except Exception:
            log.exception("event=logs_chunk_write_failed stream=%s pieces=%d", p.stream.labels, len(p.pieces))

    def _write_chunks(self, p: _Pending, encoded: list[tuple[bytes, int]]) -> None:
        s = p.stream
        metas: list[ChunkMeta] = []
        fast = self.opts.cut_level != chunkfmt.LEVEL
        for piece, (data, raw) in zip(p.pieces, encoded, strict=True):
            if self._chunk_f.tell() + len(data) > self.opts.chunk_segment_bytes and self._chunk_f.tell():
                self._roll_segment()
            off = self._chunk_f.tell()
            self._chunk_f.write(data)
            ts = piece.ts
            metas.append(
                ChunkMeta(self._chunk_seg, off, len(data), int(ts[0]), int(ts[-1]), len(ts), raw, fast)
            )
        self._chunk_f.flush()
        if self.opts.fsync:
            os.fsync(self._chunk_f.fileno())
        s.cut_seq = max(s.cut_seq, p.last_seq)
        record = [b"F" if fast else b"G", struct.pack("<I", len(metas))]
        for m in metas:
            record.append(_CHUNK_REC.pack(s.id, m.segment, m.offset, m.length, m.mint, m.maxt, m.lines,
                                          m.raw_bytes, s.cut_seq))
            s.chunks.append(m)
            self._segment_maxt[m.segment] = max(self._segment_maxt.get(m.segment, m.maxt), m.maxt)
        s.pending.remove(p)
        self._write_index(b"".join(record))
        self._index_f.flush()
        if self.opts.fsync:
            os.fsync(self._index_f.fileno())
        self._drop_wal()

    def _roll_segment(self) -> None:
        self._chunk_f.close()
        self._chunk_seg = self._alloc_segment()
        self._chunk_f = open(self._chunk_path(self._chunk_seg), "ab")  # noqa: SIM115

    def wait(self) -> None:
        """Until every queued chunk is compressed and written."""
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
                self._futures = pending
            if not pending:
                return
            concurrent.futures.wait(pending)

    def _drop_wal(self) -> None:
        live = [s.head_first_seq for s in self._by_labels.values() if s.head_ts]
        live.extend(p.first_seq for s in self._by_labels.values() for p in s.pending)
        self.wal.drop_before(min(live) if live else self._seq + 1)

    def flush(self) -> int:
        """Cut every head into chunks and write them (shutdown, tests, benchmarks)."""
        with self._lock:
            n = self._cut(list(self._by_labels.values()))
        self.wait()
        return n

    # ---------------------------------------------------------------- maintenance

    def maintain(self, now_ms: int | None = None) -> dict[str, int]:
        """Cut old heads, keep the WAL bounded, apply retention. Safe to call from a thread."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        with self._maint_lock:
            with self._lock:
                if self.closed:
                    return {"chunks_cut": 0, "segments_deleted": 0, "segments_compacted": 0}
                age_s = self.opts.max_chunk_age_ms / 1000
                mono = time.monotonic()
                if len(self.wal.segments()) > self.opts.max_wal_segments:
                    old = list(self._by_labels.values())
                else:
                    old = [s for s in self._by_labels.values()
                           if s.head_ts and mono - s.head_started >= age_s]
                cut = self._cut(old)
                deleted = self._retention(now_ms)
            compacted = self._compact(force=False)
        return {"chunks_cut": cut, "segments_deleted": deleted, "segments_compacted": compacted}

    def compact(self, force: bool = True) -> int:
        """Rewrite the segments that hold fast-level chunks or space freed by deletions, every
        chunk at ``chunk.LEVEL``; the number of segments rewritten.  ``force`` does it even while
        pushes keep coming (``maintain`` waits for ``compact_idle_s`` without a push)."""
        with self._maint_lock:
            return self._compact(force)

    def _compact(self, force: bool) -> int:
        with self._lock:
            if self.closed:
                return 0
            mono = time.monotonic()
            idle = force or mono - self._last_push >= self.opts.compact_idle_s
            # the push rate since the last pass: a store taking a trickle of lines is not busy,
            # and compacts without waiting for a pause that may never come
            rate = (self.lines_total - self._rate_lines) / max(mono - self._rate_since, 1e-3)
            self._rate_lines, self._rate_since = self.lines_total, mono
            busy = rate >= self.opts.compact_busy_lines_per_s
            live: dict[int, int] = {}
            fast: dict[int, int] = {}
            for s in self._by_labels.values():
                for c in s.chunks:
                    live[c.segment] = live.get(c.segment, 0) + c.length
                    if c.fast:
                        fast[c.segment] = fast.get(c.segment, 0) + c.length
            if busy and not idle and sum(fast.values()) < self.opts.compact_backlog_bytes:
                return 0
            targets = set(fast)
            for seg, n in live.items():
                if seg != self._chunk_seg and n < self._segment_size(seg) // 2:
                    targets.add(seg)  # deletions freed more than half of it
            if not idle and (busy or fast.get(self._chunk_seg, 0) < self.opts.compact_min_bytes):
                targets.discard(self._chunk_seg)  # the segment being appended to waits
            if not targets:
                return 0
            if self._chunk_seg in targets:
                self._roll_segment()
            work = sorted(
                ((s, c) for s in self._by_labels.values() for c in s.chunks if c.segment in targets),
                key=lambda sc: (sc[1].segment, sc[1].offset),
            )

        def level(data: bytes, c: ChunkMeta) -> ChunkMeta | tuple[bytes, ChunkMeta] | None:
            return (chunkfmt.recompress(data), c) if c.fast else (data, c)

        # the rewrite itself runs without the lock: ingestion and queries go on meanwhile
        try:
            moved = self._rewrite_chunks(work, level, abortable=True)
        except _Aborted as e:
            for seg in e.segments:
                self._chunk_path(seg).unlink(missing_ok=True)
            return 0
        with self._lock:
            self._swap(moved, targets)
        log.info("event=logs_compacted segments=%d chunks=%d", len(targets), len(work))
        return len(targets)

    def delete(
        self,
        matchers: Sequence[Matcher],
        start: int,
        end: int,
        line_match: Callable[[Lines], npt.NDArray[np.bool_]] | None = None,
    ) -> int:
        """Remove the lines of matching streams with ``start <= ts <= end`` (nanoseconds) for
        which ``line_match`` is true (every line when None); the number of lines removed.

        Heads are cut first so every line is in a chunk; each chunk holding such lines is
        rewritten without them, the index swapped atomically; the space freed is reclaimed by
        compaction.  Lines pushed while this runs are not looked at."""
        with self._maint_lock:
            with self._lock:
                if self.closed:
                    raise LimitError("the log store is closed")
                streams = self.select(matchers, start, end + 1)
                self._cut(streams)
            self.wait()
            with self._lock:
                work = [(s, c) for s in streams for c in s.chunks if c.mint <= end and c.maxt >= start]
            removed = 0

            def drop(data: bytes, c: ChunkMeta) -> ChunkMeta | tuple[bytes, ChunkMeta] | None:
                nonlocal removed
                lines = chunkfmt.decode(data)
                lo = int(np.searchsorted(lines.ts, start, side="left"))
                hi = int(np.searchsorted(lines.ts, end, side="right"))
                mask = np.zeros(len(lines), dtype=np.bool_)
                # the filter runs over the whole chunk (filters search its joined text, so they
                # take whole chunks), then only lines in the range count
                mask[lo:hi] = True if line_match is None else line_match(lines)[lo:hi]
                k = int(mask.sum())
                if not k:
                    return c
                removed += k
                if k == len(lines):
                    return None
                kept = lines.take(np.flatnonzero(~mask))
                out, raw = chunkfmt.encode_lines(kept)
                return out, ChunkMeta(0, 0, 0, int(kept.ts[0]), int(kept.ts[-1]), len(kept), raw)

            moved = self._rewrite_chunks(work, drop)
            with self._lock:
                self._swap(moved, set())
        log.info("event=logs_deleted lines=%d chunks=%d", removed, len(work))
        return removed

    def _rewrite_chunks(
        self,
        work: list[tuple[Stream, ChunkMeta]],
        transform: Callable[[bytes, ChunkMeta], ChunkMeta | tuple[bytes, ChunkMeta] | None],
        abortable: bool = False,
    ) -> list[tuple[Stream, ChunkMeta, ChunkMeta | None]]:
        """Each chunk through ``transform`` (the chunk itself: unchanged; None: dropped; else new
        bytes and their metadata), new bytes written to fresh segments, fsynced before the
        index may name them.  The (stream, old, new) changes."""
        moved: list[tuple[Stream, ChunkMeta, ChunkMeta | None]] = []
        f = None
        seg = 0
        written: list[int] = []
        try:
            for s, c in work:
                if abortable and self._closing:
                    raise _Aborted(written)
                res = transform(self._chunk_bytes(c), c)
                if res is c:
                    continue
                if res is None:
                    moved.append((s, c, None))
                    continue
                assert isinstance(res, tuple)
                data, m = res
                if f is None or (f.tell() and f.tell() + len(data) > self.opts.chunk_segment_bytes):
                    if f is not None:
                        _sync_close(f)
                    with self._lock:
                        seg = self._alloc_segment()
                    written.append(seg)
                    f = open(self._chunk_path(seg), "wb")  # noqa: SIM115
                off = f.tell()
                f.write(data)
                moved.append(
                    (s, c, ChunkMeta(seg, off, len(data), m.mint, m.maxt, m.lines, m.raw_bytes, False))
                )
        finally:
            if f is not None:
                _sync_close(f)
        return moved

    def _swap(self, moved: list[tuple[Stream, ChunkMeta, ChunkMeta | None]], retired: set[int]) -> None:
        """Point the streams at the rewritten chunks, write the index anew (atomically), then
        remove the segments nothing names any more."""
        by_stream: dict[int, dict[tuple[int, int], ChunkMeta | None]] = {}
        for s, old, new in moved:
            by_stream.setdefault(s.id, {})[(old.segment, old.offset)] = new
        for sid, changes in by_stream.items():
            st = self.streams[sid]
            if st is None:
                continue
            chunks: list[ChunkMeta] = []
            for c in st.chunks:
                new = changes.get((c.segment, c.offset), c)
                if new is not None:
                    chunks.append(new)
                    if new is not c:
                        self._segment_maxt[new.segment] = max(self._segment_maxt.get(new.segment, new.maxt),
                                                              new.maxt)
            st.chunks = chunks
        self._rewrite_index()
        used = self._referenced_segments()
        doomed = {seg for seg in self._chunk_segments() if seg not in used and seg != self._chunk_seg}
        doomed |= {seg for seg in retired if seg not in used}
        for seg in doomed:
            self._chunk_path(seg).unlink(missing_ok=True)
            self._segment_maxt.pop(seg, None)
            fd = self._segment_files.pop(seg, None)
            if fd is not None:
                os.close(fd)
        for key in [k for k in self._cache if k[0] in doomed]:
            self._cache_bytes -= _cached_size(self._cache.pop(key))

    def _segment_size(self, seg: int) -> int:
        try:
            return self._chunk_path(seg).stat().st_size
        except FileNotFoundError:
            return 0

    def _retention(self, now_ms: int) -> int:
        doomed: set[int] = set()
        if self.opts.retention_ms:
            cutoff = (now_ms - self.opts.retention_ms) * MS
            doomed |= {
                seg for seg, maxt in self._segment_maxt.items() if maxt < cutoff and seg != self._chunk_seg
            }
        if self.opts.retention_bytes:
            # oldest data first (compaction output takes new numbers for old data)
            segs = sorted((s for s in self._chunk_segments() if s not in doomed),
                          key=lambda s: self._segment_maxt.get(s, 1 << 62))
            sizes = {s: self._chunk_path(s).stat().st_size for s in segs}
            total = sum(sizes.values()) + sum(f.stat().st_size for f in (self.path / "wal").iterdir())
            for seg in segs:
                if total <= self.opts.retention_bytes or seg == self._chunk_seg:
                    break
                doomed.add(seg)
                total -= sizes[seg]
        if not doomed:
            return 0
        for seg in doomed:
            self._chunk_path(seg).unlink(missing_ok=True)
            self._segment_maxt.pop(seg, None)
            fd = self._segment_files.pop(seg, None)
            if fd is not None:
                os.close(fd)
        self._cache.clear()
        self._cache_bytes = 0
        for s in list(self._by_labels.values()):
            s.chunks = [c for c in s.chunks if c.segment not in doomed]
            if s.chunks:
                s.mint = min(c.mint for c in s.chunks)
        self._rewrite_index()
        log.info("event=logs_retention segments_deleted=%d", len(doomed))
        return len(doomed)

    def _rewrite_index(self) -> None:
        tmp = self.path / "index.tmp"
        with open(tmp, "wb") as f:
            for s in self.streams:
                if s is None:
                    continue
                for payload in self._stream_records(s):
                    f.write(_FRAME.pack(len(payload), zlib.crc32(payload)) + payload)
            f.flush()
            os.fsync(f.fileno())
        self._index_f.close()
        os.replace(tmp, self.path / "index")
        self._index_f = open(self.path / "index", "ab")  # noqa: SIM115

    def _stream_records(self, s: Stream) -> list[bytes]:
        out = [b"S" + struct.pack("<I", s.id) + orjson.dumps([list(p) for p in s.labels])]
        if s.cut_seq and not s.chunks:  # deleted or expired: replay must still skip what was cut
            out.append(b"Q" + struct.pack("<IQ", s.id, s.cut_seq))
        for c in s.chunks:
            out.append(
                (b"c" if c.fast else b"C")
                + _CHUNK_REC.pack(
                    s.id, c.segment, c.offset, c.length, c.mint, c.maxt, c.lines, c.raw_bytes, s.cut_seq
                )
            )
        return out

    def close(self) -> None:
        self._closing = True  # a compaction under way gives up (its work is redone next time)
        with self._maint_lock:
            with self._lock:
                if self.closed:
                    return
                self._cut(list(self._by_labels.values()))
            self.wait()
            with self._lock:
                self.closed = True
                self._compressor.shutdown(wait=True)
                self.wal.close()
                self._chunk_f.close()
                self._index_f.close()
                for fd in self._segment_files.values():
                    os.close(fd)
                self._segment_files.clear()

    # ---------------------------------------------------------------- read

    def select(
        self, matchers: Sequence[Matcher], start: int = -(1 << 62), end: int = 1 << 62
    ) -> list[Stream]:
        """Streams matching every matcher with data in [start, end) (nanoseconds)."""
        with self._lock:
            candidates: set[int] | None = None
            for m in matchers:
                if m.type is MatchType.EQUAL and m.value:
                    ids = self._postings.get(m.name, {}).get(m.value, set())
                    candidates = set(ids) if candidates is None else candidates & ids
            pool: Iterable[Stream | None] = (
                self.streams if candidates is None else (self.streams[i] for i in sorted(candidates))
            )
            return [
                s
                for s in pool
                if s is not None
                and s.overlaps(start, end)
                and all(m.matches(s.labels.get(m.name)) for m in matchers)
            ]

    def read(self, s: Stream, start: int, end: int) -> list[Lines]:
        """The stream's lines in [start, end) as sorted pieces (chunks, then the head)."""
        for _ in range(3):
            try:
                return self._read(s, start, end)
            except FileNotFoundError:
                continue  # compaction or deletion replaced a chunk meanwhile: read the new ones
        return self._read(s, start, end)

    def _read(self, s: Stream, start: int, end: int) -> list[Lines]:
        with self._lock:
            metas = [c for c in s.chunks if c.mint < end and c.maxt >= start]
            pending = [piece for p in s.pending for piece in p.pieces]
            head = s.head_lines_view() if s.head_ts else None
        out: list[Lines] = []
        for c in metas:
            out.append(_clip(self._load(c), start, end))
        out.extend(_clip(p, start, end) for p in pending)
        if head is not None:
            out.append(_clip(head, start, end))
        return [p for p in out if len(p)]

    def _load(self, c: ChunkMeta) -> Lines:
        key = (c.segment, c.offset)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        lines = chunkfmt.decode(self._chunk_bytes(c))
        size = _cached_size(lines)
        if size <= self.opts.cache_bytes // 4:
            with self._lock:
                self._cache[key] = lines
                self._cache_bytes += size
                while self._cache_bytes > self.opts.cache_bytes and self._cache:
                    _, old = self._cache.popitem(last=False)
                    self._cache_bytes -= _cached_size(old)
        return lines

    def _chunk_bytes(self, c: ChunkMeta) -> bytes:
        # under the lock: compaction closes the descriptors of the segments it removes
        with self._lock:
            fd = self._segment_files.get(c.segment)
            if fd is None:
                fd = os.open(self._chunk_path(c.segment), os.O_RDONLY)
                self._segment_files[c.segment] = fd
            return os.pread(fd, c.length, c.offset)

    def label_names(self, start: int, end: int) -> list[str]:
        with self._lock:
            names = {k for s in self._by_labels.values() if s.overlaps(start, end) for k, _ in s.labels}
        return sorted(names)

    def label_values(self, name: str, start: int, end: int, matchers: Sequence[Matcher] = ()) -> list[str]:
        streams = self.select(matchers, start, end) if matchers else None
        with self._lock:
            if streams is None:
                streams = [s for s in self._by_labels.values() if s.overlaps(start, end)]
            values = {s.labels.get(name) for s in streams}
        values.discard("")
        return sorted(values)

    def stats(self, matchers: Sequence[Matcher], start: int, end: int) -> dict[str, int]:
        """Loki's index/stats: streams, chunks, entries and bytes overlapping the range."""
        streams = self.select(matchers, start, end)
        chunks = entries = nbytes = 0
        with self._lock:
            for s in streams:
                for c in s.chunks:
                    if c.mint < end and c.maxt >= start:
                        chunks += 1
                        entries += c.lines
                        nbytes += c.raw_bytes
                for piece in (piece for p in s.pending for piece in p.pieces):
                    chunks += 1
                    entries += len(piece)
                    nbytes += int(piece.sizes().sum())
                if s.head_ts:
                    chunks += 1
                    entries += len(s.head_ts)
                    nbytes += s.head_bytes
        return {"streams": len(streams), "chunks": chunks, "entries": entries, "bytes": nbytes}

    def disk_bytes(self) -> int:
        """Bytes of closed chunks on disk (the WAL and index not counted)."""
        return sum(self._chunk_path(s).stat().st_size for s in self._chunk_segments())


class _Aborted(Exception):
    """A compaction stopped by close(); ``segments`` are the ones it had begun writing."""

    def __init__(self, segments: list[int]) -> None:
        super().__init__("compaction aborted")
        self.segments = segments


def _cached_size(lines: Lines) -> int:
    return len(lines.text) + 24 * len(lines)


def _sync_close(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


def _clip(lines: Lines, start: int, end: int) -> Lines:
    ts = lines.ts
    if len(ts) == 0 or (ts[0] >= start and ts[-1] < end):
        return lines
    lo = int(np.searchsorted(ts, start, side="left"))
    hi = int(np.searchsorted(ts, end, side="left"))
    return lines.slice(lo, hi)
