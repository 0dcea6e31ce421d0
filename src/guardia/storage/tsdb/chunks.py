"""Pages: many series' samples compressed together, and read back a few rows at a time.

A *page* holds the samples of a set of series (rows), each row sorted by time; the head's
frames and a block's chunk file are made of pages.  ``codec`` turns rows into 64-bit
words; a page byte-transposes them (all first bytes, then all second bytes, ...), which
lines up the long runs of zero high bytes, and compresses them with zstd.

Format 2 (magic ``GPG2``, written since 2026-12) cuts the rows into *frames* of
``group_rows`` consecutive rows, each compressed on its own, so a query that wants a few
rows of a page (one instance of a big job: a row or two in each of the job's pages)
inflates only the frames holding them instead of the whole page::

    header      32 bytes, little-endian: magic "GPG2", rows (u32), samples (u32),
                flags (u8: 1 = one timestamp row shared by all rows, 2 = all rows hold the
                same number of samples), 3 bytes zero, group_rows (u32), then the lengths
                of the three streams below (u32 each)
    counts      zstd of the rows' sample counts (int32); empty when flag 2 is set
    row kinds   one bit per row, packed (numpy ``packbits``): integer-delta or XOR values
    ts row      zstd of the shared timestamp row's transposed words; empty without flag 1
    frame table one u32 per frame: its compressed length
    frames      per frame, zstd of [its timestamp words transposed (absent with flag 1)]
                [its value words transposed]

Frames hold about ``FRAME_SAMPLES`` samples each: long enough that cutting costs little
compression, short enough that a few rows cost a few microseconds of zstd.  Format 1
(``GPG1``, one zstd stream for all timestamps and one for all values) is still read: old
blocks and WAL checkpoints stay readable.  A page that does not decode raises (or, in a
batch, reports) ``ChunkCorruptError`` saying what is wrong with it; the reader adds
which block file and page.
"""

from __future__ import annotations

import itertools
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import zstandard

from guardia.storage.tsdb.codec import (
    F64,
    I32,
    I64,
    U64,
    decode_values,
    encode_timestamps,
    encode_values,
    row_starts,
    transpose,
    undod,
    uniform_count,
)

__all__ = [
    "FRAME_SAMPLES",
    "ChunkCorruptError",
    "PagesDecoded",
    "decode_batches",
    "decode_page",
    "decode_page_rows",
    "decode_page_rows_shared",
    "decode_pages_rows",
    "encode_page",
    "page_counts",
    "row_starts",
]

MAGIC = b"GPG2"
MAGIC_V1 = b"GPG1"
_HEADER = struct.Struct("<4sIIBxxxIIII")
_FLAG_TS_SHARED = 1
_FLAG_EQUAL_ROWS = 2
FRAME_SAMPLES = 2048
# A selector across the storage order may want one row per frame, whatever its size:
# short rows (a head window holds 16 samples per series) would otherwise make frames of
# hundreds of rows, all inflated for that one.
FRAME_MAX_ROWS = 64


class ChunkCorruptError(ValueError):
    """A page that cannot be decoded (bad magic, truncated, bad framing, zstd failure)."""


_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "c", None)
    if cache is None:
        cache = {}
        _local.c = cache
    c = cache.get(level)
    if c is None:
        c = zstandard.ZstdCompressor(level=level)
        cache[level] = c
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "d", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _local.d = d
    return d


# --- writing ------------------------------------------------------------------------------


def frame_rows(
    n: int, total: int, frame_samples: int = FRAME_SAMPLES, max_rows: int = FRAME_MAX_ROWS
) -> int:
    """Rows per frame: as many as hold about ``frame_samples`` samples, at least one and
    at most ``max_rows``."""
    if n <= 0 or total <= 0:
        return max(n, 1)
    return max(1, min(n, max_rows, frame_samples * n // total))


def encode_page(
    counts: I32, ts: I64, vs: F64, level: int = 1, frame_samples: int = FRAME_SAMPLES,
    max_rows: int = FRAME_MAX_ROWS,
) -> bytes:
    """Compress rows of samples (``counts[i]`` samples for row ``i``, rows concatenated),
    in frames of about ``frame_samples`` samples and at most ``max_rows`` rows."""
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    vs = np.ascontiguousarray(vs, dtype=np.float64)
    n, total = counts.shape[0], ts.shape[0]
    if int(counts.sum()) != total or vs.shape[0] != total:
        raise ValueError("counts do not add up to the number of samples")
    shared, tw = encode_timestamps(ts, counts)
    row_int, vw = encode_values(vs, counts)
    comp = _compressor(level)
    equal = uniform_count(counts) > 0
    zc = b"" if equal else comp.compress(counts.tobytes())
    zf = np.packbits(row_int).tobytes()
    zt = comp.compress(transpose(tw)) if shared else b""
    gr = frame_rows(n, total, frame_samples, max_rows)
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    frames: list[bytes] = []
    for r0 in range(0, n, gr):
        lo, hi = int(bounds[r0]), int(bounds[min(n, r0 + gr)])
        body = transpose(vw[lo:hi]) if shared else transpose(tw[lo:hi]) + transpose(vw[lo:hi])
        frames.append(comp.compress(body))
    table = np.array([len(f) for f in frames], dtype="<u4").tobytes()
    flags = (_FLAG_TS_SHARED if shared else 0) | (_FLAG_EQUAL_ROWS if equal else 0)
    head = _HEADER.pack(MAGIC, n, total, flags, gr, len(zc), len(zf), len(zt))
    return b"".join((head, zc, zf, zt, table, *frames))


def _encode_page_v1(counts: I32, ts: I64, vs: F64, level: int = 1) -> bytes:
    """Format 1, as written before 2026-12: kept so tests check old pages still decode."""
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    n, total = counts.shape[0], int(np.shape(ts)[0])
    shared, tw = encode_timestamps(np.ascontiguousarray(ts, dtype=np.int64), counts)
    row_int, vw = encode_values(np.ascontiguousarray(vs, dtype=np.float64), counts)
    comp = _compressor(level)
    zc = comp.compress(counts.tobytes())
    zf = np.packbits(row_int).tobytes()
    zt = comp.compress(transpose(tw))
    zv = comp.compress(transpose(vw))
    head = _HEADER.pack(
        MAGIC_V1, n, total, _FLAG_TS_SHARED if shared else 0, len(zc), len(zf), len(zt), len(zv)
    )
    return b"".join((head, zc, zf, zt, zv))


# --- reading ------------------------------------------------------------------------------


def decode_page(buf: bytes | memoryview) -> tuple[I32, I64, F64]:
    """Inverse of ``encode_page``: (counts, timestamps, values)."""
    return decode_page_rows(buf, None)


def decode_page_rows(buf: bytes | memoryview, rows: npt.NDArray[np.int64] | None) -> tuple[I32, I64, F64]:
    """Decode only ``rows`` (sorted row numbers; None for all): their counts and samples."""
    counts, ts, row, vs = decode_page_rows_shared(buf, rows)
    if ts is None:
        assert row is not None
        ts = np.tile(row, counts.shape[0])
    return counts, ts, vs


def page_counts(buf: bytes | memoryview) -> I32:
    """Each row's sample count, read from the header and the counts stream alone.

    Compressing a head window plans where each spill page's rows go before reading any
    samples, then reads them a batch of series at a time: planning from the counts
    inflates no frame, so the window's samples are never all decoded at once.
    """
    try:
        magic, n, total, flags, f1, f2, _, _ = _HEADER.unpack_from(buf, 0)
    except struct.error as e:
        raise ChunkCorruptError(f"truncated page header: {e}") from None
    if magic == MAGIC and flags & _FLAG_EQUAL_ROWS:
        if not n or total % n:
            raise ChunkCorruptError(f"page says its {n} rows are equal but holds {total} samples")
        return np.full(n, total // n, dtype=np.int32)
    if magic not in (MAGIC, MAGIC_V1):
        raise ChunkCorruptError(f"bad page magic {bytes(magic)!r} (expected {MAGIC!r} or {MAGIC_V1!r})")
    lc = f2 if magic == MAGIC else f1  # format 1 has no rows-per-frame field before it
    mv = memoryview(buf)
    if _HEADER.size + lc > len(mv):
        raise ChunkCorruptError(f"page of {len(mv)} bytes is shorter than its header says")
    raw = _inflate(_decompressor(), mv[_HEADER.size : _HEADER.size + lc], "row counts", 4 * n)
    counts = np.frombuffer(raw, dtype=np.int32)
    if int(counts.sum()) != total or bool((counts < 0).any()):
        raise ChunkCorruptError(f"page row counts add up to {int(counts.sum())}, header says {total}")
    return counts


def decode_page_rows_shared(
    buf: bytes | memoryview, rows: npt.NDArray[np.int64] | None
) -> tuple[I32, I64 | None, I64 | None, F64]:
    """``decode_page_rows`` that hands back one row of timestamps when all rows share it.

    Returns (counts, ts, shared_row, values) with exactly one of ts / shared_row set, so
    a query can broadcast the row instead of materialising a copy per series.
    """
    out = decode_pages_rows([(buf, rows)])
    if out.bad:
        raise ChunkCorruptError(out.bad[0][1])
    return out.counts, out.ts, out.row, out.vs


# Selected samples a reader hands ``decode_pages_rows`` per call: enough to share numpy's
# per-call cost among many pages, few enough that a huge select never holds two copies.
DECODE_BATCH_SAMPLES = 1 << 20

T = TypeVar("T")
A = TypeVar("A", bound=np.generic)


def decode_batches(items: Iterable[T], samples: Callable[[T], int]) -> Iterator[list[T]]:
    """``items`` in consecutive groups of about ``DECODE_BATCH_SAMPLES`` selected samples."""
    batch: list[T] = []
    budget = 0
    for item in items:
        batch.append(item)
        budget += samples(item)
        if budget >= DECODE_BATCH_SAMPLES:
            yield batch
            batch, budget = [], 0
    if batch:
        yield batch


class PagesDecoded:
    """Selected rows of several pages, concatenated in the order the pages were given.

    ``ok`` lists the pages decoded, ``bad`` the (page, reason) of those that were not;
    exactly one of ``ts`` / ``row`` is set, ``row`` when every row of every page decoded
    has the very same timestamps.
    """

    __slots__ = ("bad", "counts", "ok", "row", "ts", "vs")

    def __init__(
        self, ok: list[int], bad: list[tuple[int, str]], counts: I32, ts: I64 | None, row: I64 | None,
        vs: F64,
    ) -> None:
        self.ok, self.bad, self.counts, self.ts, self.row, self.vs = ok, bad, counts, ts, row, vs


class _Selected:
    """What one page read as byte planes contributes (format 1, and format 2 pages whose rows
    differ in length): the selected rows' counts and row kinds, their words as byte planes
    (8, k) per frame touched, and the page's shared timestamp row."""

    __slots__ = ("counts", "ints", "shared", "tplanes", "vplanes")

    def __init__(self) -> None:
        self.counts: I32 = _NO_COUNTS
        self.ints: npt.NDArray[np.bool_] = _NO_INTS
        self.vplanes: list[npt.NDArray[np.uint8]] = []
        self.tplanes: list[npt.NDArray[np.uint8]] = []
        self.shared: bytes | None = None


_NO_COUNTS: I32 = np.zeros(0, dtype=np.int32)
_NO_INTS: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)


class _Ints:
    """Integers appended as small Python lists (pages read a few rows at a time) or as
    arrays, made into one array at the end: no numpy call per small piece."""

    __slots__ = ("arrays", "pending")

    def __init__(self) -> None:
        self.arrays: list[npt.NDArray[np.generic]] = []
        self.pending: list[int] = []

    def add(self, xs: list[int] | npt.NDArray[np.generic]) -> None:
        if isinstance(xs, list):
            self.pending.extend(xs)
            return
        if self.pending:
            self.arrays.append(np.array(self.pending))
            self.pending = []
        self.arrays.append(xs)

    def array(self, dtype: type[A]) -> npt.NDArray[A]:
        if not self.arrays:
            return np.array(self.pending, dtype=dtype)
        if self.pending:
            self.add(np.zeros(0, dtype=dtype))
        if len(self.arrays) == 1:  # a copy: it may be a view of a page (or a block's map)
            return np.array(self.arrays[0], dtype=dtype)
        return np.concatenate(self.arrays).astype(dtype, copy=False)


class _FrameGroup:
    """Selected rows of consecutive pages whose frames have one shape ``(planes, rows, samples
    per row)`` (format 2 pages of equally long rows, the usual case): their inflated frames,
    joined once, and per selected row its frame and its row in that frame.  One numpy
    gather turns them into 64-bit words, byte planes transposed on the way: no array per
    page or per frame."""

    __slots__ = ("fi", "m", "parts", "ri", "shape")

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.shape = shape
        self.parts: list[bytes | memoryview] = []
        self.m = 0
        self.fi = _Ints()
        self.ri = _Ints()

    def words(self) -> tuple[U64, U64 | None]:
        per, g, c = self.shape
        fi, ri = self.fi.array(np.intp), self.ri.array(np.intp)
        if not c or not fi.shape[0]:
            return np.zeros(0, dtype=np.uint64), None if per == 8 else np.zeros(0, dtype=np.uint64)
        buf = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        a = np.frombuffer(buf, dtype=np.uint8).reshape(self.m, per, g, c)
        v = _gather_words(a, fi, ri, per - 8)
        return v, None if per == 8 else _gather_words(a, fi, ri, 0)


def _gather_words(
    a: npt.NDArray[np.uint8], fi: npt.NDArray[np.intp], ri: npt.NDArray[np.intp], lo: int
) -> U64:
    """Rows ``ri`` of frames ``fi`` of ``a`` (frame, plane, row, sample) as 64-bit words,
    from the 8 byte planes starting at ``lo``."""
    r, c = fi.shape[0], a.shape[3]
    if r * c < 32768:
        # small: one gather of (frame, row, sample, plane) and one transposing copy
        w = np.ascontiguousarray(a[:, lo : lo + 8].transpose(0, 2, 3, 1)[fi, ri])
    else:
        # large: a gather per plane (a few hundred KiB, cache-sized) written interleaved
        # costs a fraction of numpy's generic transposing copy of the whole
        w = np.empty((r, c, 8), dtype=np.uint8)
        for j in range(8):
            w[:, :, j] = a[fi, lo + j, ri, :]
    words: U64 = w.view(np.uint64).reshape(-1)
    return words


class _PlaneGroup:
    """Selected rows of consecutive pages read as byte planes (``_Selected``)."""

    __slots__ = ("tplanes", "vplanes")

    def __init__(self) -> None:
        self.vplanes: list[npt.NDArray[np.uint8]] = []
        self.tplanes: list[npt.NDArray[np.uint8]] = []

    def words(self) -> tuple[U64, U64 | None]:
        v = _words(self.vplanes) if self.vplanes else np.zeros(0, dtype=np.uint64)
        return v, _words(self.tplanes) if self.tplanes else None


class _Batch:
    """What the pages of one ``decode_pages_rows`` call contribute, in page order.  A page
    adds to it only once it is read whole, so a bad page leaves nothing behind."""

    __slots__ = ("counts", "groups", "ints", "nrows", "shared")

    def __init__(self) -> None:
        self.groups: list[_FrameGroup | _PlaneGroup] = []
        self.counts = _Ints()
        self.ints = _Ints()
        self.shared: list[bytes | None] = []  # per page: its shared timestamp row
        self.nrows: list[int] = []  # per page: rows selected

    def add_frames(
        self, shape: tuple[int, int, int], parts: list[bytes | memoryview], m: int,
        fi: list[int] | I64, ri: list[int] | I64, ints: list[int] | npt.NDArray[np.bool_],
        counts: list[int] | I32, shared: bytes | None,
    ) -> None:
        g = self.groups[-1] if self.groups else None
        if not (isinstance(g, _FrameGroup) and g.shape == shape):
            g = _FrameGroup(shape)
            self.groups.append(g)
        g.parts.extend(parts)
        g.m += m
        g.fi.add(fi)
        g.ri.add(ri)
        self.counts.add(counts)
        self.ints.add(ints)
        self.shared.append(shared)
        self.nrows.append(len(fi))

    def add_planes(self, sel: _Selected) -> None:
        g = self.groups[-1] if self.groups else None
        if not isinstance(g, _PlaneGroup):
            g = _PlaneGroup()
            self.groups.append(g)
        g.vplanes.extend(sel.vplanes)
        g.tplanes.extend(sel.tplanes)
        self.counts.add(sel.counts)
        self.ints.add(sel.ints)
        self.shared.append(sel.shared)
        self.nrows.append(int(sel.counts.shape[0]))


def decode_pages_rows(
    items: Sequence[tuple[bytes | memoryview, npt.NDArray[np.int64] | None]],
) -> PagesDecoded:
    """Decode ``rows`` (sorted row numbers; None for all) of each page, all pages at once.

    A query often touches many pages for a few rows each (a selector across the storage
    order, or a long range).  Per page only zstd of the frames holding the wanted rows and
    some integer bookkeeping run; gathering the words and the numpy decoding of values and
    timestamps run once over all pages' rows, so a page costs a few microseconds of Python
    besides zstd.
    """
    ok: list[int] = []
    bad: list[tuple[int, str]] = []
    acc = _Batch()
    d = _decompressor()
    rows_seen: dict[bytes, bytes] = {}
    for i, (buf, rows) in enumerate(items):
        try:
            _select(d, buf, rows, rows_seen, acc)
        except ChunkCorruptError as e:
            bad.append((i, str(e)))
            continue
        ok.append(i)
    if not ok:
        empty_i = np.zeros(0, dtype=np.int64)
        return PagesDecoded(ok, bad, np.zeros(0, dtype=np.int32), empty_i, None, np.zeros(0))
    counts_all = acc.counts.array(np.int32)
    ints = acc.ints.array(np.bool_)
    vws: list[U64] = []
    tws: list[U64] = []
    for g in acc.groups:
        v, t = g.words()
        vws.append(v)
        if t is not None and t.shape[0]:
            tws.append(t)
    vw = vws[0] if len(vws) == 1 else np.concatenate(vws)
    vs = decode_values(ints, vw, counts_all) if vw.shape[0] else np.zeros(0)
    rows_of: dict[bytes, I64] = {}
    for raw in acc.shared:
        if raw is not None and raw not in rows_of:
            rows_of[raw] = _shared_row(raw)
    if len(rows_of) == 1 and all(s is not None for s in acc.shared):
        return PagesDecoded(ok, bad, counts_all, None, next(iter(rows_of.values())), vs)
    ts: I64 | None = None
    if tws:
        if rows_of:
            own = np.repeat(np.array([s is None for s in acc.shared]), acc.nrows)
            tc = counts_all[own]
        else:
            tc = counts_all
        ts = undod(tws[0] if len(tws) == 1 else np.concatenate(tws), row_starts(tc), tc)
    if rows_of:
        # pages with different stored rows, or with and without one: one flat array
        pieces: list[I64] = []
        pos = 0
        r0 = 0
        for raw, k in zip(acc.shared, acc.nrows, strict=True):
            if raw is not None:
                pieces.append(np.tile(rows_of[raw], k))
            else:
                assert ts is not None
                m = int(counts_all[r0 : r0 + k].sum())
                pieces.append(ts[pos : pos + m])
                pos += m
            r0 += k
        ts = np.concatenate(pieces)
    if ts is None:  # no samples selected at all
        ts = np.zeros(0, dtype=np.int64)
    return PagesDecoded(ok, bad, counts_all, ts, None, vs)


def _shared_row(raw: bytes) -> I64:
    """The timestamps of an inflated shared row, decoded once while recently used: every
    page of a head span or block holds the same row, and a query reads several spans."""
    row = _SHARED_ROWS.get(raw)
    if row is None:
        width = len(raw) // 8
        one = np.array([width], dtype=np.int32)
        words = _words([np.frombuffer(raw, dtype=np.uint8).reshape(8, width)])
        row = undod(words, np.zeros(1, dtype=np.int64), one)
        row.flags.writeable = False  # handed to many queries: nobody may change it
        if len(_SHARED_ROWS) >= _SHARED_ROWS_MAX:
            _SHARED_ROWS.clear()
        _SHARED_ROWS[raw] = row
    return row


_SHARED_ROWS: dict[bytes, I64] = {}
_SHARED_ROWS_MAX = 128


def _words(planes: list[npt.NDArray[np.uint8]]) -> U64:
    """Byte planes (8, k) of several frames as one array of 64-bit words."""
    joined = planes[0] if len(planes) == 1 else np.concatenate(planes, axis=1)
    k = joined.shape[1]
    if k < 4096:  # small: one call beats eight
        words: U64 = joined.T.copy().view(np.uint64).ravel()
        return words
    # numpy's generic transpose-copy of a (8, k) uint8 array is about twice as slow as
    # eight plane-wise writes into the interleaved result
    out = np.empty((k, 8), dtype=np.uint8)
    for j in range(8):
        out[:, j] = joined[j]
    big: U64 = out.view(np.uint64).ravel()
    return big


def _select(
    d: zstandard.ZstdDecompressor, buf: bytes | memoryview, rows: I64 | None,
    rows_seen: dict[bytes, bytes], acc: _Batch,
) -> None:
    """Add the wanted rows of one page (format 1 or 2) to ``acc``, inflating only the
    frames that hold them.

    ``rows_seen``: shared timestamp rows inflated so far in this batch, by their compressed
    bytes (the pages of one head window or block hold the same row: it is inflated once).
    """
    try:
        magic, n, total, flags, f1, f2, f3, f4 = _HEADER.unpack_from(buf, 0)
    except struct.error as e:
        raise ChunkCorruptError(f"truncated page header: {e}") from None
    if magic == MAGIC:
        sel = _select_v2(d, memoryview(buf), rows, rows_seen, acc, n, total, flags, f1, f2, f3, f4)
        if sel is not None:
            acc.add_planes(sel)
        return
    if magic == MAGIC_V1:
        acc.add_planes(_select_v1(d, memoryview(buf), rows, n, total, flags, f1, f2, f3, f4))
        return
    raise ChunkCorruptError(f"bad page magic {bytes(magic)!r} (expected {MAGIC!r} or {MAGIC_V1!r})")


def _inflate(
    d: zstandard.ZstdDecompressor, mv: memoryview, what: str | int, size: int, of: int = -1
) -> bytes:
    """One zstd frame of exactly ``size`` bytes; ``what`` names it in an error (with
    ``of``: "frame <what> of <of>", formatted only then: this runs once per frame)."""
    try:
        # a frame must fill its slot exactly: a frame table that is off fails here
        raw = d.decompress(mv, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError as e:
        name = what if of < 0 else f"frame {what} of {of}"
        raise ChunkCorruptError(f"page {name} does not decompress: {e}") from None
    if len(raw) != size:
        name = what if of < 0 else f"frame {what} of {of}"
        raise ChunkCorruptError(f"page {name} holds {len(raw)} bytes, expected {size}")
    return raw


def _select_v2(
    d: zstandard.ZstdDecompressor, mv: memoryview, rows: I64 | None, rows_seen: dict[bytes, bytes],
    acc: _Batch, n: int, total: int, flags: int, gr: int, lc: int, lf: int, lt: int,
) -> _Selected | None:
    """Format 2: pages of equally long rows are added to ``acc`` as frames (None is
    returned), others are read as byte planes."""
    shared = bool(flags & _FLAG_TS_SHARED)
    equal = bool(flags & _FLAG_EQUAL_ROWS)
    ng = -(-n // gr) if gr else -1
    if ng < 0 or (n and ng == 0) or lf != (n + 7) // 8:
        raise ChunkCorruptError(f"page header is inconsistent: {n} rows, {gr} rows per frame, "
                                f"{lf} bytes of row kinds")
    pos = _HEADER.size
    table = pos + lc + lf + lt
    data = table + 4 * ng
    if data > len(mv):
        raise ChunkCorruptError(f"page of {len(mv)} bytes is shorter than its header says ({data})")
    if equal:
        if lc or not n or total % n:
            raise ChunkCorruptError(f"page says its {n} rows are equal but holds {total} samples")
        c = total // n
        row: bytes | None = None
        if shared:
            key = bytes(mv[table - lt : table])
            row = rows_seen.get(key)
            if row is None or len(row) != 8 * c:
                row = rows_seen[key] = _inflate(d, mv[table - lt : table], "timestamp row", 8 * c)
        _select_equal(d, mv, rows, row, acc, n, c, gr, ng, pos + lc, table, data)
        return None
    if shared:
        raise ChunkCorruptError("page with one shared timestamp row has rows of different lengths")
    counts = np.frombuffer(_inflate(d, mv[pos : pos + lc], "row counts", 4 * n), dtype=np.int32)
    if int(counts.sum()) != total or bool((counts < 0).any()):
        raise ChunkCorruptError(f"page row counts add up to {int(counts.sum())}, header says {total}")
    sel = _Selected()
    if rows is not None and rows.shape[0] <= _FEW_ROWS:
        _select_few(d, mv, rows.tolist(), sel, n, counts, gr, ng, pos + lc, table, data)
        return sel
    lens = np.frombuffer(mv, dtype="<u4", count=ng, offset=table).astype(np.int64)
    ends = np.cumsum(lens) + data
    if (int(ends[-1]) if ng else data) != len(mv):
        raise ChunkCorruptError(_table_error(int(ends[-1]) - data if ng else 0, len(mv) - data))
    bits = np.frombuffer(mv[pos + lc : pos + lc + lf], dtype=np.uint8)
    starts = np.zeros(n + 1, dtype=np.int64)  # sample offset of each row in the page
    np.cumsum(counts, out=starts[1:])
    if rows is None:
        groups: I64 = np.arange(ng, dtype=np.int64)
    else:
        if rows.shape[0] and (int(rows[0]) < 0 or int(rows[-1]) >= n):
            raise ChunkCorruptError(f"rows {int(rows[0])}..{int(rows[-1])} asked of a page of {n}")
        groups = np.unique(rows // gr)
    # The frames holding the wanted rows, inflated and joined into one (8, k) array of
    # byte planes per stream: one copy for all frames instead of numpy calls per frame.
    raws: list[bytes] = []
    first_row = np.minimum(groups * gr, n)
    fstart = starts[first_row]
    fk = starts[np.minimum(first_row + gr, n)] - fstart
    ends_at = ends.tolist()
    ks = fk.tolist()
    for gi, k in zip(groups.tolist(), ks, strict=True):
        raws.append(_inflate(d, mv[ends_at[gi - 1] if gi else data : ends_at[gi]], gi, 16 * k, ng))
    vpl, tpl = _join(raws, ks)
    if rows is None:
        _take(sel, vpl, tpl, slice(0, total))
        sel.counts = counts
        sel.ints = np.unpackbits(bits, count=n).astype(np.bool_)
        return sel
    joff = np.zeros(groups.shape[0], dtype=np.int64)
    np.cumsum(fk[:-1], out=joff[1:])
    rc = (starts[rows + 1] - starts[rows]).astype(np.int32)
    gpos = np.searchsorted(groups, rows // gr)
    at = joff[gpos] + starts[rows] - fstart[gpos]  # each row's first sample in the joined planes
    if rows.shape[0] and int(rows[-1]) - int(rows[0]) + 1 == rows.shape[0]:  # a run: one slice
        _take(sel, vpl, tpl, slice(int(at[0]), int(at[-1]) + int(rc[-1])))
    elif rows.shape[0]:
        first = np.zeros(rows.shape[0], dtype=np.int64)
        np.cumsum(rc[:-1], out=first[1:])
        _take(sel, vpl, tpl, np.repeat(at - first, rc) + np.arange(int(rc.sum()), dtype=np.int64))
    sel.counts = rc
    sel.ints = ((bits[rows >> 3] >> (7 - (rows & 7)).astype(np.uint8)) & 1).astype(np.bool_)
    return sel


def _join(raws: list[bytes], ks: list[int]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Inflated frames (``ks[i]`` samples each, timestamp planes then value planes) as
    (values, timestamps) byte planes (8, k)."""
    per = 16
    m = len(ks)
    if m > 1 and ks[-1] != ks[0]:
        m -= 1  # the last frame of a page may be short
    if m and ks[0] and all(k == ks[0] for k in ks[:m]):
        # frames of equal size: (frame, plane, sample) to (plane, frame, sample), one copy
        arr = np.frombuffer(b"".join(raws[:m]) if m > 1 else raws[0], dtype=np.uint8)
        arr = arr.reshape(m, per, ks[0])
        v = arr[:, per - 8 :, :].transpose(1, 0, 2).reshape(8, m * ks[0])
        t = arr[:, :8, :].transpose(1, 0, 2).reshape(8, m * ks[0])
        if m == len(ks):
            return v, t
        vl, tl = [v], [t]
        rest = zip(raws[m:], ks[m:], strict=True)
    else:
        vl, tl = [], []
        rest = zip(raws, ks, strict=True)
    for raw, k in rest:
        a = np.frombuffer(raw, dtype=np.uint8).reshape(per, k)
        vl.append(a[per - 8 :])
        tl.append(a[:8])
    if not vl:
        return np.zeros((8, 0), dtype=np.uint8), np.zeros((8, 0), dtype=np.uint8)
    vj = vl[0] if len(vl) == 1 else np.concatenate(vl, axis=1)
    tj = tl[0] if len(tl) == 1 else np.concatenate(tl, axis=1)
    return vj, tj


# Up to this many rows of a page are picked out with Python integers rather than numpy
# arrays: a selector across the storage order wants a row or two from each of many pages,
# and a dozen numpy calls per page would cost more than inflating the frames.
_FEW_ROWS = 8


def _table_error(covered: int, held: int) -> str:
    return f"page frame table covers {covered} bytes of frames, the page holds {held}"


def _select_few(
    d: zstandard.ZstdDecompressor, mv: memoryview, rl: list[int], sel: _Selected,
    n: int, counts: I32, gr: int, ng: int, bits_at: int, table: int, data: int,
) -> None:
    """``_select_v2`` for a few rows (``rl``, sorted) of a page whose rows differ in length:
    scalar bookkeeping, one zstd call and one view per frame touched."""
    if rl and (rl[0] < 0 or rl[-1] >= n):
        raise ChunkCorruptError(f"rows {rl[0]}..{rl[-1]} asked of a page of {n}")
    lens = _frame_lengths(mv, table, ng)
    if data + sum(lens) != len(mv):
        raise ChunkCorruptError(_table_error(sum(lens), len(mv) - data))
    starts = [0, *itertools.accumulate(counts.tolist())]
    i = 0
    while i < len(rl):
        gi = rl[i] // gr
        j = i + 1
        while j < len(rl) and rl[j] // gr == gi:
            j += 1
        r0, r1 = gi * gr, min(n, gi * gr + gr)
        s0, k = starts[r0], starts[r1] - starts[r0]
        a = data + sum(lens[:gi])
        raw = np.frombuffer(_inflate(d, mv[a : a + lens[gi]], gi, 16 * k, ng), dtype=np.uint8)
        tpl = raw[: 8 * k].reshape(8, k)
        vpl = raw[8 * k :].reshape(8, k)
        while i < j:  # runs of adjacent rows: one slice each
            e = i + 1
            while e < j and rl[e] == rl[e - 1] + 1:
                e += 1
            _take(sel, vpl, tpl, slice(starts[rl[i]] - s0, starts[rl[e - 1] + 1] - s0))
            i = e
    bits = mv[bits_at : bits_at + (n + 7) // 8]
    sel.ints = np.array([(bits[r >> 3] >> (7 - (r & 7))) & 1 for r in rl], dtype=np.bool_)
    sel.counts = counts[np.array(rl, dtype=np.int64)]


def _frame_lengths(mv: memoryview, table: int, ng: int) -> tuple[int, ...]:
    """A page's frame table (compressed length of each frame)."""
    st = _TABLES.get(ng)
    if st is None:
        st = _TABLES[ng] = struct.Struct(f"<{ng}I")
    try:
        lens: tuple[int, ...] = st.unpack_from(mv, table)
    except struct.error:
        raise ChunkCorruptError(f"page of {len(mv)} bytes is shorter than its frame table") from None
    return lens


_TABLES: dict[int, struct.Struct] = {}


def _select_equal(
    d: zstandard.ZstdDecompressor, mv: memoryview, rows: I64 | None, row: bytes | None, acc: _Batch,
    n: int, c: int, gr: int, ng: int, bits_at: int, table: int, data: int,
) -> None:
    """Add the wanted rows of a format 2 page whose ``n`` rows all hold ``c`` samples
    (``row``: the shared timestamp row, or None when each row stores its own) to ``acc``.

    Each frame touched is inflated once; a frame shorter than the others (the page's last)
    is padded to their shape so that every frame of the group is one slot of a 4-d array.
    Up to ``_FEW_ROWS`` rows are looked up with Python integers (a selector across the
    storage order wants a row or two from each of many pages: this runs per page, so it
    calls as little as it can).
    """
    per = 8 if row is not None else 16
    g = min(gr, n)
    shape = (per, g, c)
    lens = _frame_lengths(mv, table, ng)
    if data + sum(lens) != len(mv):
        raise ChunkCorruptError(_table_error(sum(lens), len(mv) - data))
    grp = acc.groups[-1] if acc.groups else None
    if not (isinstance(grp, _FrameGroup) and grp.shape == shape):
        grp = None
    base = grp.m if grp is not None else 0
    parts: list[bytes | memoryview] = []
    if rows is not None and rows.shape[0] <= _FEW_ROWS:
        rl: list[int] = rows.tolist()
        if rl and (rl[0] < 0 or rl[-1] >= n):
            raise ChunkCorruptError(f"rows {rl[0]}..{rl[-1]} asked of a page of {n}")
        fi: list[int] = []
        ri: list[int] = []
        last = -1
        slot = base - 1
        for r in rl:
            f = r // g
            if f != last:
                a = data + sum(lens[:f])
                held = min(g, n - f * g)
                if held == g:
                    parts.append(_inflate(d, mv[a : a + lens[f]], f, per * g * c, ng))
                else:
                    _frame_parts(d, mv[a : a + lens[f]], f, ng, per, g, c, held, parts)
                slot += 1
                last = f
            fi.append(slot)
            ri.append(r - f * g)
        if grp is None:
            grp = _FrameGroup(shape)
            acc.groups.append(grp)
        grp.parts.extend(parts)
        grp.m += slot + 1 - base
        grp.fi.pending.extend(fi)  # ``pending`` is the tail of each sequence
        grp.ri.pending.extend(ri)
        acc.counts.pending.extend([c] * len(rl))
        acc.ints.pending.extend([(mv[bits_at + (r >> 3)] >> (7 - (r & 7))) & 1 for r in rl])
        acc.shared.append(row)
        acc.nrows.append(len(rl))
        return
    if rows is None:
        rows = np.arange(n, dtype=np.int64)
    elif rows.shape[0] and (int(rows[0]) < 0 or int(rows[-1]) >= n):
        raise ChunkCorruptError(f"rows {int(rows[0])}..{int(rows[-1])} asked of a page of {n}")
    fr = rows // g
    frames = np.unique(fr)
    ends = list(itertools.accumulate(lens, initial=data))
    for f in frames.tolist():
        _frame_parts(d, mv[ends[f] : ends[f + 1]], f, ng, per, g, c, min(g, n - f * g), parts)
    bits = np.frombuffer(mv, dtype=np.uint8, count=(n + 7) // 8, offset=bits_at)
    ints_a = ((bits[rows >> 3] >> (7 - (rows & 7)).astype(np.uint8)) & 1).astype(np.bool_)
    acc.add_frames(
        shape, parts, int(frames.shape[0]), base + np.searchsorted(frames, fr), rows - fr * g, ints_a,
        np.full(rows.shape[0], c, dtype=np.int32), row,
    )


def _frame_parts(
    d: zstandard.ZstdDecompressor, src: memoryview, f: int, ng: int, per: int, g: int, c: int,
    rows: int, out: list[bytes | memoryview],
) -> None:
    """Inflate frame ``f`` (``rows`` rows of ``c`` samples, ``per`` byte planes) into ``out``
    as one slot of ``g`` rows: a shorter frame's planes are padded with zero rows."""
    k = rows * c
    raw = _inflate(d, src, f, per * k, ng)
    if rows == g:
        out.append(raw)
        return
    pad = bytes((g - rows) * c)
    mvr = memoryview(raw)
    for j in range(per):
        out.append(mvr[j * k : (j + 1) * k])
        out.append(pad)


def _take(
    sel: _Selected, vpl: npt.NDArray[np.uint8], tpl: npt.NDArray[np.uint8] | None, at: slice | I64
) -> None:
    sel.vplanes.append(vpl[:, at])
    if tpl is not None:
        sel.tplanes.append(tpl[:, at])


def _select_v1(
    d: zstandard.ZstdDecompressor, mv: memoryview, rows: I64 | None,
    n: int, total: int, flags: int, lc: int, lf: int, lt: int, lv: int,
) -> _Selected:
    """Format 1: one stream of timestamps and one of values, inflated whole."""
    pos = _HEADER.size
    if pos + lc + lf + lt + lv > len(mv):
        raise ChunkCorruptError("page shorter than its header says")
    try:
        counts = np.frombuffer(d.decompress(mv[pos : pos + lc]), dtype=np.int32)
        pos += lc
        row_int = np.unpackbits(np.frombuffer(mv[pos : pos + lf], dtype=np.uint8))[:n].astype(np.bool_)
        pos += lf
        traw = d.decompress(mv[pos : pos + lt])
        pos += lt
        vraw = d.decompress(mv[pos : pos + lv])
    except zstandard.ZstdError as e:
        raise ChunkCorruptError(f"page does not decompress: {e}") from None
    if counts.shape[0] != n or row_int.shape[0] != n or int(counts.sum()) != total:
        raise ChunkCorruptError("page row counts do not match its header")
    is_shared = bool(flags & _FLAG_TS_SHARED)
    if len(vraw) != 8 * total:
        raise ChunkCorruptError(f"page payload has {len(vraw)} bytes, expected {8 * total}")
    if is_shared:
        if not n or len(traw) != 8 * int(counts[0]) or bool((counts != counts[0]).any()):
            raise ChunkCorruptError("page with one shared timestamp row has rows of different lengths")
    elif len(traw) != 8 * total:
        raise ChunkCorruptError(f"page payload has {len(traw)} bytes, expected {8 * total}")
    sel = _Selected()
    vpl = np.frombuffer(vraw, dtype=np.uint8).reshape(8, total)
    tpl = None if is_shared else np.frombuffer(traw, dtype=np.uint8).reshape(8, total)
    sel.shared = bytes(traw) if is_shared else None
    if rows is None or (rows.shape[0] and int(rows[-1]) - int(rows[0]) + 1 == rows.shape[0]):
        r0, r1 = (0, n) if rows is None else (int(rows[0]), int(rows[-1]) + 1)
        c = counts[r0:r1]
        lo = int(counts[:r0].sum())
        _take(sel, vpl, tpl, slice(lo, lo + int(c.sum())))
        sel.counts, sel.ints = c, row_int[r0:r1]
        return sel
    c = counts[rows]
    first = int(counts[0]) if n else 0
    if is_shared or (first * n == total and bool((counts == first).all())):
        idx = (rows[:, None] * first + np.arange(first)).ravel()
    else:
        starts = row_starts(counts)
        idx = np.repeat(starts[rows] - row_starts(c), c) + np.arange(int(c.sum()), dtype=np.int64)
    _take(sel, vpl, tpl, idx)
    sel.counts, sel.ints = c, row_int[rows]
    return sel
