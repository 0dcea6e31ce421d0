"""The sample codec: many series' samples compressed together, decoded back exactly.

A *page* holds the samples of a set of series (rows), each row sorted by time.  Encoding
is vectorised over the whole page so closing a chunk never costs Python work per sample:

* timestamps become delta-of-deltas per row (a regular scrape grid turns into zeros); when
  every row has the very same timestamps (one target's scrape) they are stored once;
* values become, per row, either zig-zagged integer deltas (integer-valued rows such as
  request counters and histogram buckets) or the XOR of each float's bits with its
  predecessor's (everything else), so a slowly moving series is mostly zero bits;
* the resulting 64-bit words are byte-transposed (all first bytes, then all second
  bytes, ...), which lines up the long runs of zero high bytes, and compressed with zstd.

Values round-trip bit for bit: the staleness marker NaN, other NaNs and -0.0 keep their
exact bit pattern (rows holding them use the XOR form).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import zstandard

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

MAGIC = b"GPG1"
_HEADER = struct.Struct("<4sIIBxxxIIII")
_FLAG_TS_SHARED = 1
_TWO53 = float(2**53)


class ChunkCorruptError(ValueError):
    """A page that cannot be decoded (bad magic, truncated, or zstd/CRC failure)."""


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


def _zigzag(x: I64) -> U64:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: U64) -> I64:
    # In place on two temporaries: fresh large arrays cost page faults, not just copies.
    s: I64 = np.right_shift(u, np.uint64(1)).view(np.int64)
    m: I64 = np.bitwise_and(u, np.uint64(1)).view(np.int64)
    np.negative(m, out=m)
    np.bitwise_xor(s, m, out=s)
    return s


def _transpose(u: U64) -> bytes:
    return u.view(np.uint8).reshape(-1, 8).T.tobytes()


def row_starts(counts: I32) -> I64:
    starts = np.zeros(counts.shape[0], dtype=np.int64)
    if counts.shape[0] > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _seg_diff(x: I64, starts: I64) -> I64:
    """Difference with the predecessor inside each row; the first element of a row is kept."""
    d = np.empty_like(x)
    if x.size:
        d[0] = x[0]
        np.subtract(x[1:], x[:-1], out=d[1:])
        d[starts] = x[starts]
    return d


def _seg_cumsum(d: I64, starts: I64, counts: I32) -> I64:
    c = np.cumsum(d)
    before = c[starts] - d[starts]
    out: I64 = c - np.repeat(before, counts)
    return out


def _seg_xor_accumulate(d: U64, starts: I64, counts: I32) -> U64:
    c: U64 = np.bitwise_xor.accumulate(d)
    before = np.bitwise_xor(c[starts], d[starts])
    out: U64 = np.bitwise_xor(c, np.repeat(before, counts))
    return out


def encode_timestamps(ts: I64, counts: I32) -> tuple[bool, U64]:
    """Delta-of-delta words per row, or the first row only when all rows are equal."""
    n = counts.shape[0]
    if n and counts[0] > 0 and (counts == counts[0]).all():
        c = int(counts[0])
        mat = ts.reshape(n, c)
        if (mat == mat[0]).all():
            row = mat[0]
            return True, _zigzag(_dod(row, np.zeros(1, dtype=np.int64)))
    # Rows without samples add nothing to the words (and have no first sample).
    return False, _zigzag(_dod(ts, row_starts(counts[counts > 0])))


def _dod(ts: I64, starts: I64) -> I64:
    d1 = _seg_diff(ts, starts)
    d2 = _seg_diff(d1, starts)
    # The second element of each row is a plain delta, not a delta of deltas.
    second = starts + 1
    second = second[second < ts.size]
    if second.size:
        d2[second] = d1[second]
    # Rows of length 1 made ``second`` point into the next row: restore their starts.
    d2[starts] = ts[starts]
    return d2


def _uniform(counts: I32) -> int:
    """The common row length, or -1 when rows differ (or there are none)."""
    if not counts.shape[0]:
        return -1
    c = int(counts[0])
    return c if c > 0 and bool((counts == c).all()) else -1


def _undod(words: U64, starts: I64, counts: I32) -> I64:
    nonempty = counts > 0
    if not nonempty.all():
        counts = counts[nonempty]
        starts = row_starts(counts)
    d2 = _unzigzag(words)
    c = _uniform(counts)
    if c > 0:
        # Equal rows (one scrape interval for all): accumulate along rows of a matrix,
        # no per-sample row bookkeeping.
        mat = d2.reshape(-1, c)
        grid = np.empty_like(mat)
        grid[:, 0] = mat[:, 0]
        if c > 1:
            d1 = np.cumsum(mat[:, 1:], axis=1)
            np.cumsum(d1, axis=1, out=grid[:, 1:])
            grid[:, 1:] += mat[:, :1]
        flat: I64 = grid.ravel()
        return flat
    first = d2[starts].copy()
    d2[starts] = 0
    d1 = _seg_cumsum(d2, starts, counts)
    d1[starts] = 0
    x: I64 = _seg_cumsum(d1, starts, counts) + np.repeat(first, counts)
    return x


def encode_values(vs: F64, counts: I32) -> tuple[npt.NDArray[np.bool_], U64]:
    nonempty = counts > 0
    if not nonempty.all():
        # Rows without samples: encode the others; their flag is meaningless (True).
        row_int_ne, words = encode_values(vs, counts[nonempty])
        row_int_all = np.ones(counts.shape[0], dtype=np.bool_)
        row_int_all[nonempty] = row_int_ne
        return row_int_all, words
    starts = row_starts(counts)
    bits = vs.view(np.uint64)
    with np.errstate(invalid="ignore"):
        elem_int = (vs == np.rint(vs)) & (np.abs(vs) < _TWO53) & ~((vs == 0) & np.signbit(vs))
    row_int = np.logical_and.reduceat(elem_int, starts) if starts.size else np.zeros(0, dtype=np.bool_)
    out: U64
    if row_int.all():
        out = _zigzag(_seg_diff(vs.astype(np.int64), starts))
    elif not row_int.any():
        out = bits.copy()
        if bits.size:
            np.bitwise_xor(bits[1:], bits[:-1], out=out[1:])
            out[starts] = bits[starts]
    else:
        mask = np.repeat(row_int, counts)
        with np.errstate(invalid="ignore"):
            ints = np.where(mask, vs, 0.0).astype(np.int64)
        zi = _zigzag(_seg_diff(ints, starts))
        xb = np.where(mask, np.uint64(0), bits)
        xo = xb.copy()
        np.bitwise_xor(xb[1:], xb[:-1], out=xo[1:])
        xo[starts] = xb[starts]
        out = np.where(mask, zi, xo).astype(np.uint64)
    return row_int, out


def decode_values(row_int: npt.NDArray[np.bool_], words: U64, counts: I32) -> F64:
    nonempty = counts > 0
    if not nonempty.all():
        return decode_values(row_int[nonempty], words, counts[nonempty])
    c = _uniform(counts)
    if c > 0:
        return _decode_values_uniform(row_int, words.reshape(-1, c))
    starts = row_starts(counts)
    if row_int.all():
        out: F64 = _seg_cumsum(_unzigzag(words), starts, counts).astype(np.float64)
        return out
    if not row_int.any():
        return _seg_xor_accumulate(words, starts, counts).view(np.float64)
    mask = np.repeat(row_int, counts)
    ints = _seg_cumsum(np.where(mask, _unzigzag(words), 0), starts, counts).astype(np.float64)
    xs = _seg_xor_accumulate(np.where(mask, np.uint64(0), words), starts, counts).view(np.float64)
    res: F64 = np.where(mask, ints, xs)
    return res


def _decode_values_uniform(row_int: npt.NDArray[np.bool_], mat: U64) -> F64:
    """``decode_values`` for rows of equal length: per-row accumulation along axis 1."""
    if row_int.all():
        z = _unzigzag(mat)
        np.cumsum(z, axis=1, out=z)
        ints: F64 = z.astype(np.float64).ravel()
        return ints
    if not row_int.any():
        xs: F64 = np.bitwise_xor.accumulate(mat, axis=1).view(np.float64).ravel()
        return xs
    out = np.empty(mat.shape, dtype=np.float64)
    ii = np.nonzero(row_int)[0]
    ff = np.nonzero(~row_int)[0]
    out[ii] = np.cumsum(_unzigzag(mat[ii]), axis=1)
    out[ff] = np.bitwise_xor.accumulate(mat[ff], axis=1).view(np.float64)
    res: F64 = out.ravel()
    return res


def encode_page(counts: I32, ts: I64, vs: F64, level: int = 1) -> bytes:
    """Compress rows of samples (``counts[i]`` samples for row ``i``, rows concatenated)."""
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    vs = np.ascontiguousarray(vs, dtype=np.float64)
    n, total = counts.shape[0], ts.shape[0]
    if int(counts.sum()) != total or vs.shape[0] != total:
        raise ValueError("counts do not add up to the number of samples")
    shared, tw = encode_timestamps(ts, counts)
    row_int, vw = encode_values(vs, counts)
    comp = _compressor(level)
    zc = comp.compress(counts.tobytes())
    zf = np.packbits(row_int).tobytes()
    zt = comp.compress(_transpose(tw))
    zv = comp.compress(_transpose(vw))
    head = _HEADER.pack(
        MAGIC, n, total, _FLAG_TS_SHARED if shared else 0, len(zc), len(zf), len(zt), len(zv)
    )
    return b"".join((head, zc, zf, zt, zv))


def decode_page(buf: bytes | memoryview) -> tuple[I32, I64, F64]:
    """Inverse of ``encode_page``: (counts, timestamps, values)."""
    return decode_page_rows(buf, None)


def decode_page_rows(buf: bytes | memoryview, rows: npt.NDArray[np.int64] | None) -> tuple[I32, I64, F64]:
    """Decode only ``rows`` (sorted row numbers; None for all): their counts and samples.

    zstd must inflate the whole page, but the byte planes are gathered for the wanted
    samples only, so the numpy work is proportional to what the query asked for.
    """
    counts, ts, row, vs = decode_page_rows_shared(buf, rows)
    if ts is None:
        assert row is not None
        ts = np.tile(row, counts.shape[0])
    return counts, ts, vs


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


def decode_pages_rows(
    items: Sequence[tuple[bytes | memoryview, npt.NDArray[np.int64] | None]],
) -> PagesDecoded:
    """Decode ``rows`` (sorted row numbers; None for all) of each page, all pages at once.

    A query often touches many pages for a few rows each (a selector across the storage
    order, or a long range).  Per page only zstd and a gather of the wanted words run; the
    numpy decoding of values and timestamps runs once over all pages' rows, so a page
    costs a dozen numpy calls instead of a hundred.  zstd must inflate a whole page, but
    the byte planes are gathered for the wanted samples only.
    """
    ok: list[int] = []
    bad: list[tuple[int, str]] = []
    sel_counts: list[I32] = []
    sel_int: list[npt.NDArray[np.bool_]] = []
    vplanes: list[npt.NDArray[np.uint8]] = []
    tplanes: list[npt.NDArray[np.uint8]] = []
    shared: list[bytes | None] = []  # per ok page: its one stored timestamp row, or None
    d = _decompressor()
    for i, (buf, rows) in enumerate(items):
        try:
            counts, row_int, traw, vraw, is_shared, total = _inflate(d, buf)
        except ChunkCorruptError as e:
            bad.append((i, str(e)))
            continue
        n = counts.shape[0]
        vpl = np.frombuffer(vraw, dtype=np.uint8).reshape(8, total)
        tpl = None if is_shared else np.frombuffer(traw, dtype=np.uint8).reshape(8, total)
        if rows is None or (rows.shape[0] and int(rows[-1]) - int(rows[0]) + 1 == rows.shape[0]):
            # adjacent rows (the usual case in blocks: pages follow label order): slices
            r0, r1 = (0, n) if rows is None else (int(rows[0]), int(rows[-1]) + 1)
            c = counts[r0:r1]
            lo = int(counts[:r0].sum())
            hi = lo + int(c.sum())
            vplanes.append(vpl[:, lo:hi])
            if tpl is not None:
                tplanes.append(tpl[:, lo:hi])
            sel_int.append(row_int[r0:r1])
        else:
            c = counts[rows]
            first = int(counts[0]) if n else 0
            if is_shared or (first * n == total and bool((counts == first).all())):
                # equal rows: a row's words are at row * length
                idx = (rows[:, None] * first + np.arange(first)).ravel()
            else:
                starts = row_starts(counts)
                k = int(c.sum())
                idx = np.repeat(starts[rows] - row_starts(c), c) + np.arange(k, dtype=np.int64)
            vplanes.append(vpl[:, idx])
            if tpl is not None:
                tplanes.append(tpl[:, idx])
            sel_int.append(row_int[rows])
        sel_counts.append(c)
        shared.append(bytes(traw) if is_shared else None)
        ok.append(i)
    if not ok:
        empty_i = np.zeros(0, dtype=np.int64)
        return PagesDecoded(ok, bad, np.zeros(0, dtype=np.int32), empty_i, None, np.zeros(0))
    counts_all = sel_counts[0] if len(ok) == 1 else np.concatenate(sel_counts)
    ints = sel_int[0] if len(ok) == 1 else np.concatenate(sel_int)
    vs = decode_values(ints, _words(vplanes), counts_all)
    rows_of: dict[bytes, I64] = {}
    for raw in shared:
        if raw is not None and raw not in rows_of:
            width = len(raw) // 8
            one = np.array([width], dtype=np.int32)
            words = _words([np.frombuffer(raw, dtype=np.uint8).reshape(8, width)])
            rows_of[raw] = _undod(words, np.zeros(1, dtype=np.int64), one)
    if len(rows_of) == 1 and not tplanes:
        return PagesDecoded(ok, bad, counts_all.copy(), None, next(iter(rows_of.values())), vs)
    ts: I64 | None = None
    if tplanes:
        tcounts = [c for c, raw in zip(sel_counts, shared, strict=True) if raw is None]
        tc = tcounts[0] if len(tcounts) == 1 else np.concatenate(tcounts)
        ts = _undod(_words(tplanes), row_starts(tc), tc)
    if rows_of:
        # pages with different stored rows, or with and without one: one flat array
        pieces: list[I64] = []
        pos = 0
        for c, raw in zip(sel_counts, shared, strict=True):
            if raw is not None:
                pieces.append(np.tile(rows_of[raw], c.shape[0]))
            else:
                assert ts is not None
                k = int(c.sum())
                pieces.append(ts[pos : pos + k])
                pos += k
        ts = np.concatenate(pieces)
    return PagesDecoded(ok, bad, counts_all.copy(), ts, None, vs)


def _words(planes: list[npt.NDArray[np.uint8]]) -> U64:
    """Byte planes (8, k) of several pages as one array of 64-bit words."""
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


def _inflate(
    d: zstandard.ZstdDecompressor, buf: bytes | memoryview
) -> tuple[I32, npt.NDArray[np.bool_], bytes, bytes, bool, int]:
    """A page's header checked and its streams decompressed: (counts, integer-row flags,
    timestamp words, value words, whether one timestamp row is shared, samples)."""
    try:
        magic, n, total, flags, lc, lf, lt, lv = _HEADER.unpack_from(buf, 0)
    except struct.error as e:
        raise ChunkCorruptError(f"truncated page header: {e}") from None
    if magic != MAGIC:
        raise ChunkCorruptError("bad page magic")
    pos = _HEADER.size
    if pos + lc + lf + lt + lv > len(buf):
        raise ChunkCorruptError("page shorter than its header says")
    mv = memoryview(buf)  # slices of a view: no copy of the compressed streams
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
    return counts, row_int, traw, vraw, is_shared, total
