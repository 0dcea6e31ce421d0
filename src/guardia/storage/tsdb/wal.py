"""Write-ahead log: every commit's samples are on disk before ``commit`` returns.

Segments are numbered files under ``wal/`` (``00000000``, ``00000001``, ...).  Each commit
is written with one ``write`` call as a run of records, each framed as::

    type:u8  length:u32  crc32(payload):u32  payload

Record payloads are raw little-endian arrays (series refs as int32, timestamps as int64,
values as float64), so a scrape of 100,000 series costs one 1.2 MB write and no Python
object per sample.  Durability follows ``wal_fsync``:

* ``always`` – fsync before ``commit`` returns (survives power loss at once);
* ``group`` (default) – data is written to the OS before ``commit`` returns (survives a
  crash of the process at once) and fsynced at most ``wal_group_commit_ms`` later by a
  background thread (survives power loss after that delay);
* ``never`` – left to the OS.

On start the log is replayed.  A torn or corrupt record (a crash in the middle of a write,
a bad disk sector) ends the readable log: the segment is truncated there, later segments
are deleted, a warning names what was dropped and ``prometheus_tsdb_wal_corruptions_total``
is incremented.  Checkpoints (``checkpoint.NNNNNNNN/``) hold the head's state as of the end of
segment N, so replay reads the checkpoint and only the segments after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
import sys
import threading
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from guardia.model import Labels

if TYPE_CHECKING:  # numpy is imported where a function needs it: an agent never does
    import numpy as np
    import numpy.typing as npt

    I64 = npt.NDArray[np.int64]
    F64 = npt.NDArray[np.float64]

log = logging.getLogger("guardia.storage.tsdb.wal")

# the sample codec's two forms: numpy arrays (the head) and Python arrays (the agent and the
# remote write reader, which never import numpy); one layout, read and written here for both
_BIG_ENDIAN = sys.byteorder == "big"
assert array("i").itemsize == 4 and array("q").itemsize == 8 and array("d").itemsize == 8

REC_SERIES = 1
REC_SAMPLES_T = 2  # one timestamp for the whole batch (a scrape)
REC_SAMPLES = 3  # one timestamp per sample
REC_PAGE = 4  # checkpoint: a compressed head frame as is
REC_OOO = 5  # checkpoint: out-of-order buffer samples
REC_STATE = 6  # checkpoint: head lower bound
REC_GC = 7  # series garbage collection: these refs are dropped, the others renumbered in order
# out-of-order samples below the head's lower bound that a commit accepted within the window:
# replayed without the window check (the commit decided), first sample per timestamp wins
REC_OOO_LATE = 8
# native histogram samples, self-contained (label set, timestamp, histogram): see tsdb.histograms
REC_HISTOGRAMS = 9
# native histogram samples below the head's lower bound taken within the out-of-order window
# (as REC_OOO_LATE for floats): replayed without the bound, first sample per timestamp wins
REC_HISTOGRAMS_LATE = 10

_KNOWN = frozenset((REC_SERIES, REC_SAMPLES_T, REC_SAMPLES, REC_PAGE, REC_OOO, REC_STATE, REC_GC,
                    REC_OOO_LATE, REC_HISTOGRAMS, REC_HISTOGRAMS_LATE))

_FRAME = struct.Struct("<BII")
FRAME_SIZE = _FRAME.size  # a record's header: type, payload length, CRC-32
_T_N = struct.Struct("<qI")
_N = struct.Struct("<I")
_STATE = struct.Struct("<q")


class WALError(OSError):
    """The log could not be written (disk full, permissions): the commit did not happen."""


# --- record encoding ----------------------------------------------------------------------


def frame(rtype: int, payload: bytes) -> bytes:
    return _FRAME.pack(rtype, len(payload), zlib.crc32(payload)) + payload


def unpack_frame(head: bytes) -> tuple[int, int, int]:
    """A record header's type, payload length and CRC-32 (``FRAME_SIZE`` bytes)."""
    rtype, length, crc = _FRAME.unpack(head)
    return int(rtype), int(length), int(crc)


def encode_series(items: list[tuple[int, Labels]]) -> bytes:
    out = bytearray()
    for ref, labels in items:
        encode_series_into(out, ref, labels)
    return bytes(out)


def encode_series_into(out: bytearray, ref: int, labels: Labels) -> None:
    """Append one series to a series record's payload (``encode_series`` of many)."""
    out += struct.pack("<IH", ref, len(labels))
    for k, v in labels:
        kb, vb = k.encode(), v.encode()
        out += struct.pack("<HI", len(kb), len(vb))
        out += kb
        out += vb


_IH = struct.Struct("<IH")
_HI = struct.Struct("<HI")


def encode_series_many_into(out: bytearray, items: Iterable[tuple[int, Labels]]) -> None:
    """``encode_series_into`` for many series at once (a scrape's new series): the bytes of
    each (name, value) pair are built once per call, since a scrape's series share most of
    their pairs (name, job, instance, bucket bounds).  The cache lives for the call only, so
    it costs no resident memory."""
    enc: dict[tuple[str, str], bytes] = {}
    get = enc.get
    for ref, labels in items:
        out += _IH.pack(ref, len(labels))
        for p in labels:
            b = get(p)
            if b is None:
                kb, vb = p[0].encode(), p[1].encode()
                b = enc[p] = _HI.pack(len(kb), len(vb)) + kb + vb
            out += b


_REF = struct.Struct("<I")
_COUNT = struct.Struct("<H")


def split_series(payload: bytes) -> list[tuple[int, bytes]]:
    """A series record's payload as (ref, key) pairs without decoding any label: the key is
    the series' encoding after its ref (pair count, then each name and value with their
    lengths), what ``decode_series_key`` reads and equal label sets share."""
    out = []
    pos, end = 0, len(payload)
    while pos < end:
        (ref,) = _REF.unpack_from(payload, pos)
        start = pos + 4
        (n,) = _COUNT.unpack_from(payload, start)
        pos = start + 2
        for _ in range(n):
            lk, lv = _HI.unpack_from(payload, pos)
            pos += 6 + lk + lv
        out.append((ref, payload[start:pos]))
    return out


def _decode_labels(buf: bytes, pos: int, n: int) -> tuple[Labels, int]:
    """``n`` encoded (name, value) pairs from ``pos``: the label set and where it ends."""
    pairs = []
    for _ in range(n):
        lk, lv = _HI.unpack_from(buf, pos)
        pos += 6
        k = buf[pos : pos + lk].decode()
        pos += lk
        v = buf[pos : pos + lv].decode()
        pos += lv
        pairs.append((k, v))
    return Labels.from_sorted(pairs), pos


def decode_series_key(key: bytes) -> Labels:
    """The label set of one ``split_series`` key."""
    (n,) = _COUNT.unpack_from(key, 0)
    return _decode_labels(key, 2, n)[0]


def decode_series(payload: bytes) -> list[tuple[int, Labels]]:
    out = []
    pos, end = 0, len(payload)
    while pos < end:
        ref, n = _IH.unpack_from(payload, pos)
        labels, pos = _decode_labels(payload, pos + 6, n)
        out.append((ref, labels))
    return out


def _le(a: array[int] | array[float]) -> bytes:
    """A Python array's bytes, little-endian as the WAL stores them."""
    if _BIG_ENDIAN:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _raw(payload: bytes, code: str, n: int, offset: int) -> array[int] | array[float]:
    out = array(code)
    out.frombytes(memoryview(payload)[offset : offset + n * out.itemsize])
    if _BIG_ENDIAN:
        out.byteswap()
    return out


def _bytes(a: I64 | F64 | array[int] | array[float], code: str) -> bytes:
    """``a`` as the WAL's little-endian int32 (``i``), int64 (``q``) or float64 (``d``)."""
    if isinstance(a, array):
        return _le(a if a.typecode == code else array(code, a))  # type: ignore[arg-type]
    return a.astype({"i": "<i4", "q": "<i8", "d": "<f8"}[code]).tobytes()


def encode_samples_t(refs: I64 | array[int], t: int, vs: F64 | array[float]) -> bytes:
    """One scrape's samples (one timestamp): numpy arrays or Python arrays alike."""
    return b"".join((_T_N.pack(t, len(refs)), _bytes(refs, "i"), _bytes(vs, "d")))


def decode_samples_t_arrays(payload: bytes) -> tuple[array[int], int, array[float]]:
    """``decode_samples_t`` as Python arrays (refs ``i``, values ``d``), without numpy."""
    t, n = _T_N.unpack_from(payload, 0)
    o = _T_N.size
    return _raw(payload, "i", n, o), int(t), _raw(payload, "d", n, o + 4 * n)  # type: ignore[return-value]


def decode_samples_t(payload: bytes) -> tuple[I64, int, F64]:
    import numpy as np

    refs, t, vs = decode_samples_t_arrays(payload)
    return np.frombuffer(refs, dtype=np.int32).astype(np.int64), t, np.frombuffer(vs, dtype=np.float64)


def encode_samples(refs: I64 | array[int], ts: I64 | array[int], vs: F64 | array[float]) -> bytes:
    return b"".join((_N.pack(len(refs)), _bytes(refs, "i"), _bytes(ts, "q"), _bytes(vs, "d")))


def decode_samples_arrays(payload: bytes) -> tuple[array[int], array[int], array[float]]:
    """``decode_samples`` as Python arrays (refs ``i``, timestamps ``q``, values ``d``)."""
    (n,) = _N.unpack_from(payload, 0)
    o = _N.size
    return (_raw(payload, "i", n, o), _raw(payload, "q", n, o + 4 * n),  # type: ignore[return-value]
            _raw(payload, "d", n, o + 12 * n))


def decode_samples(payload: bytes) -> tuple[I64, I64, F64]:
    import numpy as np

    refs, ts, vs = decode_samples_arrays(payload)
    return (np.frombuffer(refs, dtype=np.int32).astype(np.int64), np.frombuffer(ts, dtype=np.int64),
            np.frombuffer(vs, dtype=np.float64))


_PAGE = struct.Struct("<IqqI")


def encode_page_record(span: int, start: int, end: int, refs: I64, blob: bytes) -> bytes:
    """A compressed head frame as is: which span (window) it belongs to, refs, blob."""
    return b"".join((_PAGE.pack(span, start, end, refs.shape[0]), refs.astype("<i4").tobytes(), blob))


def decode_page_record(payload: bytes) -> tuple[int, int, int, I64, bytes]:
    import numpy as np

    span, start, end, n = _PAGE.unpack_from(payload, 0)
    refs = np.frombuffer(payload, dtype="<i4", count=n, offset=_PAGE.size).astype(np.int64)
    return int(span), int(start), int(end), refs, payload[_PAGE.size + 4 * n :]


def encode_state(min_valid_t: int) -> bytes:
    return _STATE.pack(min_valid_t)


def decode_state(payload: bytes) -> int:
    return int(_STATE.unpack_from(payload, 0)[0])


def encode_gc(dead: npt.NDArray[np.int64]) -> bytes:
    """The refs a head GC dropped (ascending).  Every later record numbers series as the head
    does after it: a surviving ref ``r`` becomes ``r`` minus the dropped refs below it."""
    import numpy as np

    return np.ascontiguousarray(dead, dtype="<i8").tobytes()


def decode_gc(payload: bytes) -> npt.NDArray[np.int64]:
    import numpy as np

    return np.frombuffer(decode_gc_arrays(payload), dtype=np.int64).copy()


def decode_gc_arrays(payload: bytes) -> array[int]:
    """``decode_gc`` as a Python array (``q``)."""
    return _raw(payload, "q", len(payload) // 8, 0)  # type: ignore[return-value]


def gc_map(n: int, dead: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Old ref → new ref after a GC record (-1 for a dropped one), for ``n`` series."""
    import numpy as np

    keep = np.ones(n, dtype=np.bool_)
    keep[dead[dead < n]] = False
    out = np.cumsum(keep, dtype=np.int64) - 1
    out[~keep] = -1
    return out


# --- reading ------------------------------------------------------------------------------


@dataclass(slots=True)
class Corruption:
    segment: Path
    offset: int
    reason: str


def read_records(path: Path) -> tuple[list[tuple[int, bytes]], Corruption | None]:
    """All records of one segment file, and where (if anywhere) it stops being readable."""
    data = path.read_bytes()
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < _FRAME.size:
            return out, Corruption(path, pos, "torn record header")
        rtype, length, crc = _FRAME.unpack_from(data, pos)
        if rtype not in _KNOWN:
            return out, Corruption(path, pos, f"unknown record type {rtype}")
        body = pos + _FRAME.size
        if body + length > end:
            return out, Corruption(path, pos, "torn record (shorter than its header says)")
        payload = data[body : body + length]
        if zlib.crc32(payload) != crc:
            return out, Corruption(path, pos, "checksum mismatch")
        out.append((rtype, payload))
        pos = body + length
    return out, None


def segment_name(n: int) -> str:
    return f"{n:08d}"


def list_segments(waldir: Path) -> list[int]:
    if not waldir.is_dir():
        return []
    return sorted(int(p.name) for p in waldir.iterdir() if p.name.isdigit() and p.is_file())


def last_checkpoint(waldir: Path) -> tuple[int, Path] | None:
    best: tuple[int, Path] | None = None
    if not waldir.is_dir():
        return None
    for p in waldir.iterdir():
        if p.is_dir() and p.name.startswith("checkpoint.") and p.name[11:].isdigit():
            n = int(p.name[11:])
            if best is None or n > best[0]:
                best = (n, p)
    return best


def replay_records(waldir: Path, repair: bool) -> Iterator[tuple[int, bytes] | Corruption]:
    """Checkpoint records, then segment records; a ``Corruption`` ends the stream.

    With ``repair`` the corrupt tail is cut off so the log can be appended to again.
    """
    cp = last_checkpoint(waldir)
    first_seg = 0
    if cp is not None:
        first_seg = cp[0] + 1
        for f in sorted(cp[1].iterdir()):
            recs, bad = read_records(f)
            yield from recs
            if bad is not None:
                # A checkpoint is written whole then renamed: damage here is a disk fault.
                yield bad
                return
    segs = [s for s in list_segments(waldir) if s >= first_seg]
    for i, s in enumerate(segs):
        path = waldir / segment_name(s)
        recs, bad = read_records(path)
        yield from recs
        if bad is not None:
            later = segs[i + 1 :]
            if repair:
                with open(path, "r+b") as fh:
                    fh.truncate(bad.offset)
                for s2 in later:
                    (waldir / segment_name(s2)).unlink()
            bad.reason += f" ({path.stat().st_size if path.exists() else 0} bytes kept"
            bad.reason += f", {len(later)} later segment(s) dropped)" if later else ")"
            yield bad
            return


# --- writing ------------------------------------------------------------------------------


class WALWriter:
    """Appends framed records to the newest segment and applies the fsync policy."""

    def __init__(self, waldir: Path, fsync: str, group_ms: int, segment_bytes: int) -> None:
        self.dir = waldir
        waldir.mkdir(parents=True, exist_ok=True)
        segs = list_segments(waldir)
        self.segment = (segs[-1] + 1) if segs else 0
        cp = last_checkpoint(waldir)
        if cp is not None:
            self.segment = max(self.segment, cp[0] + 1)
        self.fsync = fsync
        self.group_s = group_ms / 1000.0
        self.segment_bytes = segment_bytes
        self._fd = -1
        self._size = 0
        self._dirty = False
        self._io = threading.Lock()
        self._stop = threading.Event()
        self.fsyncs = 0
        self.bytes_written = 0
        self._open_segment()
        self._thread: threading.Thread | None = None
        if fsync == "group":
            self._thread = threading.Thread(target=self._syncer, name="guardia-wal-fsync", daemon=True)
            self._thread.start()

    def _open_segment(self) -> None:
        path = self.dir / segment_name(self.segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        _fsync_dir(self.dir)

    def write(self, data: bytes) -> None:
        with self._io:
            if self._size and self._size + len(data) > self.segment_bytes:
                self._rotate_locked()
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
            except OSError as e:
                raise WALError(e.errno, f"cannot write the WAL segment {self.dir}: {e.strerror}") from e
            self._size += len(data)
            self.bytes_written += len(data)
            if self.fsync == "always":
                self._sync_locked()
            else:
                self._dirty = True

    def _sync_locked(self) -> None:
        os.fsync(self._fd)
        self.fsyncs += 1
        self._dirty = False

    def sync(self) -> None:
        with self._io:
            if self._dirty or self.fsync == "always":
                self._sync_locked()

    def _syncer(self) -> None:
        while not self._stop.wait(self.group_s):
            try:
                with self._io:
                    if self._dirty and self._fd >= 0:
                        self._sync_locked()
            except OSError as e:  # pragma: no cover - disk failure
                log.error("event=wal_fsync_failed error=%r", e)

    def rotate(self) -> int:
        """Start a new segment; returns the number of the one just closed."""
        with self._io:
            return self._rotate_locked()

    def _rotate_locked(self) -> int:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
        closed = self.segment
        self.segment += 1
        self._open_segment()
        return closed

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._io:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


def write_checkpoint(waldir: Path, upto: int, records: Iterator[bytes], keep_from: int | None = None) -> Path:
    """Write ``checkpoint.<upto>`` atomically and delete what it replaces.

    Segments from ``keep_from`` on are left in place even when the checkpoint covers them:
    a remote write queue still has to read them.  Replay never reads them again (it starts
    after the checkpoint's number), so keeping them costs disk, not correctness."""
    final = waldir / f"checkpoint.{upto:08d}"
    tmp = waldir / f"checkpoint.{upto:08d}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    with open(tmp / segment_name(0), "wb") as f:
        for rec in records:
            f.write(rec)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(waldir)
    for s in list_segments(waldir):
        if s <= upto and (keep_from is None or s < keep_from):
            (waldir / segment_name(s)).unlink()
    for p in waldir.iterdir():
        if p.is_dir() and p.name.startswith("checkpoint.") and p != final:
            shutil.rmtree(p, ignore_errors=True)
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
