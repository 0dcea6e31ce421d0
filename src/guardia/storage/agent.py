"""The agent's store: a write-ahead log and the series index, nothing else (Prometheus's
``tsdb/agent``).

``guardia serve --agent`` scrapes and probes only to forward: samples go to the WAL, where the
remote write queues read them, and nowhere else; no head of samples, no blocks, no queries.
What stays in memory is one ref per label set (so a scrape's refs are resolved as the
embedded store resolves them) and the series records not yet logged.

Each label set is kept only as a 16-byte digest of its WAL encoding (``series_digest`` of
``series_key``): a scrape's label sets are garbage as soon as their refs are known, and the
index costs about 110 bytes a series (an agent at 20,000 series held 13 MiB of label strings
that nothing read, then 4.3 MiB of WAL-encoded keys).  A 128-bit BLAKE2b digest stands for the
label set: two label sets sharing one would take about 2^64 series to expect.  The labels
themselves are in the WAL, where the remote write queues read them.

The WAL is truncated behind the slowest queue: ``truncate(keep_from)`` writes a checkpoint
holding every series (so a reader starting later still knows their labels) and deletes the
segments before ``keep_from``.  The agent never drops a series, so the checkpoint is the
series records of the previous checkpoint and of the segments it replaces, copied as they
are (``_series_frames``): samples are skipped unread.  With no queue configured the agent
keeps only the newest segments (``keep_segments``), since nothing will ever read older ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import struct
import threading
import zlib
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from guardia.model import Labels, Matcher
from guardia.storage.digest_index import DigestIndex
from guardia.storage.heap import release_free_memory
from guardia.storage.interface import AppendError, AppendStats, SelectHints, SeriesRef, SeriesSet
from guardia.storage.tsdb import wal
from guardia.storage.tsdb.wal import split_series

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger("guardia.storage.agent")

SEGMENT_BYTES = 16 * 1024 * 1024

_REF = struct.Struct("<I")
_COUNT = struct.Struct("<H")
_LENS = struct.Struct("<HI")

__all__ = ["AgentLockedError", "AgentStorage", "series_digest", "series_key", "split_series"]


def series_key(labels: Labels) -> bytes:
    """A label set as the WAL's series record encodes it after the ref: the number of pairs,
    then each name and value with their lengths (``wal.encode_series_into``).  Equal label sets
    give equal keys, since ``Labels`` are sorted."""
    out = bytearray(_COUNT.pack(len(labels)))
    for k, v in labels:
        kb, vb = k.encode(), v.encode()
        out += _LENS.pack(len(kb), len(vb))
        out += kb
        out += vb
    return bytes(out)


def series_digest(key: bytes) -> bytes:
    """What the agent's index keys a series by: 16 bytes for a ``series_key``."""
    return hashlib.blake2b(key, digest_size=16).digest()


class AgentLockedError(RuntimeError):
    """Another process uses the directory."""


class AgentStorage:
    """A ``Storage`` that only logs (see the module docs)."""

    # its appenders take Python arrays, and the scrape loops feeding it make those, not numpy
    # arrays: an agent never imports numpy (``Ingester(numpy_free=True)``)
    numpy_free = True

    def __init__(self, path: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.path = path
        self.waldir = path / "wal"
        self._refs = DigestIndex()  # series_digest(series_key) -> ref
        self._pending = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self.highest_ms = 0  # the newest sample timestamp appended (remote write's lag metric)
        path.mkdir(parents=True, exist_ok=True)
        self._lockfd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lockfd)
            raise AgentLockedError(f"{path} is in use by another guardia (its lock file is held)") from None
        self._replay_series()
        self._wal = wal.WALWriter(self.waldir, "group", 1000, segment_bytes)

    def _replay_series(self) -> None:
        """Series refs as they were: samples stay in the WAL for the queues, not in memory."""
        for rec in wal.replay_records(self.waldir, repair=True):
            if isinstance(rec, wal.Corruption):
                continue
            rtype, payload = rec
            if rtype == wal.REC_SERIES:
                for ref, key in split_series(payload):
                    if ref == len(self._refs):
                        digest = series_digest(key)
                        if self._refs.get(digest) is None:  # (a label set logged twice keeps its first ref)
                            self._refs.add(digest)

    @property
    def num_series(self) -> int:
        return len(self._refs)

    # -- Storage -----------------------------------------------------------------------------

    def appender(self) -> AgentAppender:
        return AgentAppender(self)

    def querier(self, mint: int, maxt: int) -> NoQuerier:
        return NoQuerier(mint, maxt)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._pending:
                with contextlib.suppress(OSError):
                    self._wal.write(wal.frame(wal.REC_SERIES, bytes(self._pending)))
            self._wal.close()
            os.close(self._lockfd)

    # -- internals ---------------------------------------------------------------------------

    def _ref(self, labels: Labels) -> int:
        key = series_key(labels)
        digest = series_digest(key)
        with self._lock:
            ref = self._refs.get(digest)
            if ref is None:
                ref = self._refs.add(digest)
                self._pending += _REF.pack(ref)
                self._pending += key
            return ref

    def _commit(self, refs: array[int], t: int | array[int], vs: array[float]) -> AppendStats:
        with self._lock:
            if self._closed:
                raise AppendError("the store is closed")
            recs = []
            if self._pending:
                recs.append(wal.frame(wal.REC_SERIES, bytes(self._pending)))
                self._pending = bytearray()
            if isinstance(t, int):
                recs.append(wal.frame(wal.REC_SAMPLES_T, wal.encode_samples_t(refs, t, vs)))
            else:
                recs.append(wal.frame(wal.REC_SAMPLES, wal.encode_samples(refs, t, vs)))
            self._wal.write(b"".join(recs))
            hi = t if isinstance(t, int) else max(t, default=0)
            if hi > self.highest_ms:
                self.highest_ms = hi
        return AppendStats(appended=len(refs))

    # -- truncation --------------------------------------------------------------------------

    def truncate(self, keep_from: int | None, keep_segments: int = 2) -> int:
        """Delete WAL segments before ``keep_from`` (the slowest queue's segment), or all but
        the newest ``keep_segments`` when no queue reads the WAL; returns how many went."""
        release_free_memory()  # scrapes' temporaries, freed, would stay resident in glibc's heap
        segs = wal.list_segments(self.waldir)
        if keep_from is None:
            keep_from = segs[-keep_segments] if len(segs) >= keep_segments else 0
        old = [s for s in segs if s < keep_from]
        if not old:
            return 0
        cp = wal.last_checkpoint(self.waldir)
        files = sorted(cp[1].iterdir()) if cp is not None else []
        after = cp[0] if cp is not None else -1
        files += [self.waldir / wal.segment_name(s) for s in segs if after < s <= old[-1]]
        wal.write_checkpoint(self.waldir, old[-1], (f for path in files for f in _series_frames(path)))
        return len(old)


def _series_frames(path: Path) -> Iterator[bytes]:
    """The series records of a WAL file, framed as they are there; other records are skipped
    without reading them.  A damaged record ends the file (logged): the series before it are
    kept, and a restart's replay reports the damage as it does for any segment."""
    with open(path, "rb") as f:
        while head := f.read(wal.FRAME_SIZE):
            if len(head) < wal.FRAME_SIZE:
                log.warning("event=agent_checkpoint_torn_record file=%s", path)
                return
            rtype, length, crc = wal.unpack_frame(head)
            if rtype != wal.REC_SERIES:
                f.seek(length, os.SEEK_CUR)
                continue
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                log.warning("event=agent_checkpoint_damaged_record file=%s", path)
                return
            yield head + payload


class AgentAppender:
    """Queues samples until ``commit``, which logs them as one WAL write.  Batches are kept as
    Python arrays (``array``): the agent never imports numpy, and numpy arrays given here are
    copied into them."""

    def __init__(self, db: AgentStorage) -> None:
        self._db = db
        self._chunks: list[tuple[array[int], int | array[int], array[float]]] = []
        self._one: list[tuple[int, int, float]] = []

    def ref(self, labels: Labels) -> SeriesRef:
        return self._db._ref(labels)

    def append(self, ref: SeriesRef | Labels, t: int, v: float) -> None:
        r = self._db._ref(ref) if isinstance(ref, Labels) else int(ref)
        if not 0 <= r < self._db.num_series:
            raise AppendError(f"unknown series ref {r}: get refs from Appender.ref(labels)")
        self._one.append((r, int(t), float(v)))

    def append_batch(self, refs: npt.NDArray[np.int64] | Sequence[SeriesRef], t: int,
                     values: npt.NDArray[np.float64] | Sequence[float]) -> None:
        r = refs if isinstance(refs, array) and refs.typecode == "q" else array("q", refs)
        v = values if isinstance(values, array) and values.typecode == "d" else array("d", values)
        if len(r) != len(v):
            raise AppendError(f"append_batch needs as many values as refs (got {len(r)} and {len(v)})")
        if r and (min(r) < 0 or max(r) >= self._db.num_series):
            raise AppendError("append_batch got an unknown series ref: get refs from Appender.ref(labels)")
        self._flush_singles()
        self._chunks.append((r, int(t), v))

    def _flush_singles(self) -> None:
        if self._one:
            r, t, v = zip(*self._one, strict=True)
            self._chunks.append((array("q", r), array("q", t), array("d", v)))
            self._one = []

    def commit(self) -> AppendStats:
        self._flush_singles()
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return AppendStats()
        if len(chunks) == 1:
            return self._db._commit(*chunks[0])
        refs, ts, vs = array("q"), array("q"), array("d")
        for r, t, v in chunks:
            refs += r
            ts += array("q", [t]) * len(r) if isinstance(t, int) else t
            vs += v
        return self._db._commit(refs, ts, vs)

    def rollback(self) -> None:
        self._chunks = []
        self._one = []


class NoQuerier:
    """What the agent answers a read with: nothing (it keeps no samples)."""

    def __init__(self, mint: int, maxt: int) -> None:
        self.mint = mint
        self.maxt = maxt

    def select(self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *,
               sort: bool = False) -> SeriesSet:
        return SeriesSet.of([])

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        return []

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return []

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return []

    def close(self) -> None:
        pass

