"""Pages of native histogram samples, the block format's counterpart of ``chunks`` pages.

A page holds the histogram samples of a few series (rows), each row sorted by time.  The
encoding reuses the float pages' codec (``codec``) by seeing a histogram series as a bundle
of float series:

* a row's samples are cut into *runs* of samples with one *layout*: schema, zero
  threshold, custom bounds and the bucket indexes present (in the order the histogram
  holds them).  A scraped series keeps one layout for hours, so a row is one run; a new
  bucket starts a new run.  Layouts are listed once per page;
* a run of ``k`` samples and ``w`` = 3 + buckets columns becomes ``w`` float rows of
  ``k`` values (count, zero count, sum, each bucket), encoded as the float pages encode
  values: zig-zagged integer deltas for whole numbers, XOR of the bits otherwise;
* the count is stored as what the zero count and the buckets do not explain (zero for
  every integer histogram), when that gives the count back bit for bit;
* a run of whole numbers whose columns grow steadily is differenced once more first
  (a delta of deltas, as Prometheus's histogram chunks store buckets), when that is
  smaller: a counter growing at a steady rate becomes zeros;
* timestamps are the float pages' delta-of-deltas per row (stored once when every row
  has the same);
* each sample's counter-reset hint is a byte.

All of it is one zstd frame; the 64-bit words (timestamps and values) are
byte-transposed first, as in the float pages.  Every value comes back bit for bit (NaN
sums, the staleness NaN, -0.0): see ``tests/storage/test_histpages.py``.

Header (32 bytes): ``GHP1``, rows, samples, runs, layouts, value rows (u32 each), flags
(u8: 1 = one shared timestamp row), 3 zero bytes, the body's length before compression
(u32).  Body: the sections of ``_SECTIONS`` in that order, each preceded by its length
(u32).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zstandard

from guardia.model.histogram import FloatHistogram
from guardia.storage.tsdb.codec import (
    _unzigzag,
    decode_values,
    encode_timestamps,
    encode_values,
    row_starts,
    transpose,
    undod,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]

MAGIC = b"GHP1"
_HEADER = struct.Struct("<4sIIIIIB3xI")
_F64 = struct.Struct("<d")
_SHARED_TS = 1
# run flags
_RESIDUAL_COUNT = 1  # column 0 holds count - (zero count + buckets)
_SECOND_ORDER = 2  # the whole-number columns were differenced once before encoding
_SECTIONS = ("counts", "runs_per_row", "run_len", "run_layout", "run_flags", "hints", "layouts",
             "row_kinds", "timestamps", "values")

Columns = tuple[list[int], list[FloatHistogram]]  # one series' timestamps and histograms
LayoutKey = tuple[int, bytes, tuple[float, ...], tuple[int, ...], tuple[int, ...]]


class HistogramPageError(ValueError):
    """A histogram page that does not decode: which part, and why."""


@dataclass(frozen=True, slots=True)
class Layout:
    schema: int
    zero_threshold: float
    custom_values: tuple[float, ...]
    positive: tuple[int, ...]
    negative: tuple[int, ...]

    @property
    def width(self) -> int:
        return 3 + len(self.positive) + len(self.negative)

    @property
    def key(self) -> LayoutKey:
        """Equal for equal layouts (the threshold by its bits: -0.0 is not 0.0 here)."""
        return (self.schema, _F64.pack(self.zero_threshold), self.custom_values, self.positive, self.negative)


@dataclass(slots=True)
class Run:
    """Consecutive samples of one series with one layout, as columns: what pages store and
    what compaction moves from page to page without building a histogram per sample."""

    ts: I64  # (k,)
    layout: Layout
    values: F64  # (width, k): count, zero count, sum, then each bucket in the layout's order
    hints: npt.NDArray[np.uint8]  # (k,)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def slice(self, a: int, b: int) -> Run:
        return Run(self.ts[a:b], self.layout, self.values[:, a:b], self.hints[a:b])

    def histograms(self) -> list[FloatHistogram]:
        lo = self.layout
        rows = self.values.T.tolist()
        npos = len(lo.positive)
        pos, neg, cv, schema, zt = lo.positive, lo.negative, lo.custom_values, lo.schema, lo.zero_threshold
        if not neg:
            return [FloatHistogram(schema, v[0], v[2], zt, v[1], dict(zip(pos, v[3:], strict=True)), {},
                                   list(cv), hint) for v, hint in zip(rows, self.hints.tolist(), strict=True)]
        return [
            FloatHistogram(schema, v[0], v[2], zt, v[1], dict(zip(pos, v[3 : 3 + npos], strict=True)),
                           dict(zip(neg, v[3 + npos :], strict=True)), list(cv), hint)
            for v, hint in zip(rows, self.hints.tolist(), strict=True)
        ]


def runs_of(ts: Sequence[int], hs: Sequence[FloatHistogram]) -> list[Run]:
    """A series' samples (in time order) cut into runs of one layout."""
    out: list[Run] = []
    layouts: dict[LayoutKey, Layout] = {}
    a = 0
    prev: LayoutKey | None = None
    keys = [_layout_key(h) for h in hs]
    for i in range(len(hs) + 1):
        key = keys[i] if i < len(hs) else None
        if i and key != prev:
            assert prev is not None
            lo = layouts.get(prev)
            if lo is None:
                h = hs[a]
                lo = layouts[prev] = Layout(h.schema, h.zero_threshold, prev[2], prev[3], prev[4])
            part = hs[a:i]
            vals = np.array([[h.count, h.zero_count, h.sum, *h.positive.values(), *h.negative.values()]
                             for h in part], dtype=np.float64).T.copy()
            out.append(Run(np.array(ts[a:i], dtype=np.int64), lo, vals.reshape(lo.width, i - a),
                           np.array([h.counter_reset_hint for h in part], dtype=np.uint8)))
            a = i
        prev = key
    return out


def join_runs(runs: Sequence[Run]) -> list[Run]:
    """Runs of a series in time order, neighbours of one layout joined into one."""
    out: list[Run] = []
    for r in runs:
        if not len(r):
            continue
        if out and out[-1].layout.key == r.layout.key:
            last = out[-1]
            out[-1] = Run(np.concatenate((last.ts, r.ts)), last.layout,
                          np.concatenate((last.values, r.values), axis=1),
                          np.concatenate((last.hints, r.hints)))
        else:
            out.append(r)
    return out


def _layout_key(h: FloatHistogram) -> LayoutKey:
    return (h.schema, _F64.pack(h.zero_threshold), tuple(h.custom_values), tuple(h.positive),
            tuple(h.negative))


def _encode_layouts(layouts: Sequence[Layout]) -> bytes:
    out = bytearray()
    for lo in layouts:
        out += struct.pack("<idIII", lo.schema, lo.zero_threshold, len(lo.custom_values),
                           len(lo.positive), len(lo.negative))
        out += struct.pack(f"<{len(lo.custom_values)}d", *lo.custom_values)
        out += struct.pack(f"<{len(lo.positive)}i", *lo.positive)
        out += struct.pack(f"<{len(lo.negative)}i", *lo.negative)
    return bytes(out)


def _decode_layouts(buf: bytes | memoryview, n: int) -> list[Layout]:
    out: list[Layout] = []
    pos = 0
    for _ in range(n):
        schema, zt, ncv, npos, nneg = struct.unpack_from("<idIII", buf, pos)
        pos += 24
        cv = struct.unpack_from(f"<{ncv}d", buf, pos)
        pos += 8 * ncv
        pi = struct.unpack_from(f"<{npos}i", buf, pos)
        pos += 4 * npos
        ni = struct.unpack_from(f"<{nneg}i", buf, pos)
        pos += 4 * nneg
        out.append(Layout(schema, zt, tuple(cv), tuple(pi), tuple(ni)))
    if pos != len(buf):
        raise HistogramPageError(f"layout table: {len(buf) - pos} bytes after {n} layouts")
    return out


def _explained_count(cols: F64) -> F64:
    """Zero count plus the buckets, added column by column (the same operations, in the
    same order, when writing and reading: the residual must give the count back exactly)."""
    acc: F64 = cols[1].copy()
    for j in range(3, cols.shape[0]):
        acc += cols[j]
    return acc


def _whole(x: F64) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(((x == np.rint(x)) & (np.abs(x) < 2.0**52) & ~np.signbit(x)).all())


def _run_columns(values: F64) -> tuple[F64, int]:
    """A run's ``w`` value rows as stored, and its flags."""
    mat = values.copy()
    flags = 0
    explained = _explained_count(mat)
    with np.errstate(invalid="ignore", over="ignore"):
        resid = mat[0] - explained
        back = explained + resid
    if (back.view(np.uint64) == mat[0].view(np.uint64)).all() and np.isfinite(resid).all():
        mat[0] = resid
        flags |= _RESIDUAL_COUNT
    k = mat.shape[1]
    ints = np.delete(mat, 2, axis=0)  # every column but the sum
    if k >= 3 and _whole(ints):
        d1 = np.diff(ints, axis=1)
        d2 = np.diff(d1, axis=1)
        if float(np.abs(d2).sum()) < float(np.abs(d1[:, 1:]).sum()):
            flags |= _SECOND_ORDER
            for j in (0, 1, *range(3, mat.shape[0])):
                mat[j, 1:] = np.diff(mat[j])
    return mat, flags


def encode_page(rows: Sequence[Columns], zstd_level: int = 9) -> bytes:
    """A page of the given rows (each a series' timestamps and histograms, in time order,
    at least one sample)."""
    return encode_page_runs([runs_of(ts, hs) for ts, hs in rows], zstd_level)


def encode_page_runs(rows: Sequence[Sequence[Run]], zstd_level: int = 9) -> bytes:
    """A page of the given rows, each a series' runs in time order (at least one sample)."""
    counts = np.array([sum(len(r) for r in runs) for runs in rows], dtype=np.int32)
    ts_all = np.concatenate([r.ts for runs in rows for r in runs]) if rows else np.zeros(0, dtype=np.int64)
    layout_ids: dict[LayoutKey, int] = {}
    layouts: list[Layout] = []
    runs_per_row = [len(runs) for runs in rows]
    run_len: list[int] = []
    run_layout: list[int] = []
    run_flags: list[int] = []
    hints: list[npt.NDArray[np.uint8]] = []
    vcols: list[F64] = []
    for runs in rows:
        for r in runs:
            key = r.layout.key
            lid = layout_ids.get(key)
            if lid is None:
                lid = layout_ids[key] = len(layouts)
                layouts.append(r.layout)
            mat, fl = _run_columns(r.values)
            vcols.append(mat.ravel())
            run_len.append(len(r))
            run_layout.append(lid)
            run_flags.append(fl)
            hints.append(r.hints)
    lens = np.array(run_len, dtype=np.int32)
    widths = np.array([layouts[i].width for i in run_layout], dtype=np.int64)
    vcounts = np.repeat(lens, widths).astype(np.int32)
    vals = np.concatenate(vcols) if vcols else np.zeros(0)
    row_int, vwords = encode_values(vals, vcounts)
    shared, twords = encode_timestamps(ts_all, counts)
    sections = [
        counts.astype("<i4").tobytes(),
        np.array(runs_per_row, dtype="<i4").tobytes(),
        lens.astype("<i4").tobytes(),
        np.array(run_layout, dtype="<u4").tobytes(),
        bytes(run_flags),
        np.concatenate(hints).astype(np.uint8).tobytes() if hints else b"",
        _encode_layouts(layouts),
        np.packbits(row_int).tobytes(),
        transpose(twords),
        transpose(vwords),
    ]
    body = b"".join(struct.pack("<I", len(s)) + s for s in sections)
    head = _HEADER.pack(MAGIC, len(rows), int(counts.sum()), len(run_len), len(layouts),
                        int(vcounts.shape[0]), _SHARED_TS if shared else 0, len(body))
    return head + zstandard.ZstdCompressor(level=zstd_level).compress(body)


def _untranspose(b: bytes | memoryview) -> U64:
    """The byte planes back into words: a plane at a time written interleaved, about half
    of what numpy's generic transposing copy of the whole costs."""
    n = len(b) // 8
    planes = np.frombuffer(b, dtype=np.uint8).reshape(8, n)
    # planes of zeros (the high bytes of small integer deltas: most of a scraped page)
    # are left as the zeroed array has them
    used = np.flatnonzero(np.bitwise_or.reduce(planes, axis=1)).tolist() if n else []
    w = np.zeros((n, 8), dtype=np.uint8)
    for j in used:
        w[:, j] = planes[j]
    out: U64 = w.view(np.uint64).reshape(-1)
    return out


@dataclass(slots=True)
class PageColumns:
    """Some rows of a page as the query engine's columns: the kept samples' timestamps
    (row after row), how many each row kept, and for each sample the layout (an index into
    ``layouts``: the layout with bucket indexes ascending, its (samples, width) matrix and
    hints) and the row of that layout's matrix holding it."""

    ts: I64
    counts: I64
    lid: npt.NDArray[np.int32]
    row: I64
    layouts: list[tuple[Layout, F64, npt.NDArray[np.int8]]]


class HistogramPage:
    """A decoded page: timestamps and value columns as arrays; histograms are built only
    for the samples a reader asks for (``row``)."""

    def __init__(self, blob: bytes | memoryview) -> None:
        if len(blob) < _HEADER.size:
            raise HistogramPageError(f"page of {len(blob)} bytes is shorter than its header")
        magic, nrows, nsamples, nruns, nlayouts, nvrows, flags, blen = _HEADER.unpack_from(blob, 0)
        if magic != MAGIC:
            raise HistogramPageError(f"not a histogram page (magic {bytes(magic)!r})")
        try:
            raw = zstandard.ZstdDecompressor().decompress(bytes(blob[_HEADER.size :]), max_output_size=blen)
        except zstandard.ZstdError as e:
            raise HistogramPageError(f"body does not decompress: {e}") from None
        if len(raw) != blen:
            raise HistogramPageError(f"body is {len(raw)} bytes, the header says {blen}")
        body = memoryview(raw)  # sections as views: the value words are most of the page
        parts: dict[str, memoryview] = {}
        pos = 0
        for name in _SECTIONS:
            if pos + 4 > len(body):
                raise HistogramPageError(f"section {name}: body ends at byte {pos}")
            (ln,) = struct.unpack_from("<I", body, pos)
            if pos + 4 + ln > len(body):
                raise HistogramPageError(f"section {name}: {ln} bytes from {pos + 4} pass the body's end")
            parts[name] = body[pos + 4 : pos + 4 + ln]
            pos += 4 + ln
        if pos != len(body):
            raise HistogramPageError(f"{len(body) - pos} bytes after the last section")

        def arr(name: str, dtype: str, n: int) -> npt.NDArray[np.int64]:
            if len(parts[name]) != n * np.dtype(dtype).itemsize:
                raise HistogramPageError(f"section {name}: {len(parts[name])} bytes for {n} entries")
            return np.frombuffer(parts[name], dtype=dtype).astype(np.int64)

        self.counts = arr("counts", "<i4", nrows)
        self.runs_per_row = arr("runs_per_row", "<i4", nrows)
        self.run_len = arr("run_len", "<i4", nruns)
        self.run_layout = arr("run_layout", "<u4", nruns)
        self.run_flags = arr("run_flags", "u1", nruns)
        self.hints = arr("hints", "u1", nsamples)
        self.hints_u8 = self.hints.astype(np.uint8)
        if int(self.counts.sum()) != nsamples or int(self.run_len.sum()) != nsamples:
            raise HistogramPageError("row and run lengths do not add up to the page's samples")
        if int(self.runs_per_row.sum()) != nruns or (nruns and int(self.run_layout.max()) >= nlayouts):
            raise HistogramPageError("run table does not match the rows or the layouts")
        self.layouts = _decode_layouts(parts["layouts"], nlayouts)
        widths = np.array([lo.width for lo in self.layouts], dtype=np.int64)[self.run_layout]
        vcounts = np.repeat(self.run_len, widths).astype(np.int32)
        if vcounts.shape[0] != nvrows:
            raise HistogramPageError(f"{vcounts.shape[0]} value rows, the header says {nvrows}")
        row_int = np.unpackbits(np.frombuffer(parts["row_kinds"], dtype=np.uint8))[:nvrows].astype(np.bool_)
        if len(parts["row_kinds"]) != (nvrows + 7) // 8:
            raise HistogramPageError("section row_kinds: wrong length")
        tw, vw = parts["timestamps"], parts["values"]
        ntw = (int(self.counts[0]) if nrows else 0) if flags & _SHARED_TS else nsamples
        if len(tw) != 8 * ntw or len(vw) != 8 * int(vcounts.sum()):
            raise HistogramPageError("timestamp or value words do not match the samples")
        counts32 = self.counts.astype(np.int32)
        if flags & _SHARED_TS:
            row = undod(_untranspose(tw), np.zeros(1, dtype=np.int64), counts32[:1])
            self.ts: I64 = np.tile(row, nrows)
        else:
            self.ts = undod(_untranspose(tw), row_starts(counts32), counts32)
        self._row_int = row_int
        self._words = _untranspose(vw)
        self._vcounts = vcounts
        self._values: F64 | None = None
        self._uniform_got: tuple[tuple[int, int, bool] | None] | None = None
        self._selected: tuple[I64, int, int, I64, I64] | None = None
        self.sample_start = row_starts(counts32)
        self.run_start = row_starts(self.run_len.astype(np.int32))  # first sample of each run
        self.run_vstart = row_starts((self.run_len * widths).astype(np.int32))
        self.first_run = row_starts(self.runs_per_row.astype(np.int32))
        self._restored_values: F64 | None = None

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @property
    def values(self) -> F64:
        """Every run's value rows, decoded as stored (before ``_run``/``_restored`` sum
        second-order columns back and add the residual counts back)."""
        if self._values is None:
            self._values = decode_values(self._row_int, self._words, self._vcounts)
        return self._values

    def row(self, i: int, mint: int, maxt: int) -> Columns:
        """Row ``i``'s samples in ``[mint, maxt]`` as (timestamps, histograms)."""
        runs = self.row_runs(i, mint, maxt)
        ts: list[int] = []
        hs: list[FloatHistogram] = []
        for r in runs:
            ts += r.ts.tolist()
            hs += r.histograms()
        return ts, hs

    def row_runs(self, i: int, mint: int, maxt: int) -> list[Run]:
        """Row ``i``'s samples in ``[mint, maxt]`` as runs."""
        a = int(self.sample_start[i])
        b = a + int(self.counts[i])
        ts = self.ts[a:b]
        lo = a + int(np.searchsorted(ts, mint, side="left"))
        hi = a + int(np.searchsorted(ts, maxt, side="right"))
        out: list[Run] = []
        if lo >= hi:
            return out
        r0 = int(self.first_run[i])
        for r in range(r0, r0 + int(self.runs_per_row[i])):
            s0 = int(self.run_start[r])
            k = int(self.run_len[r])
            if s0 + k <= lo or s0 >= hi:
                continue
            run = self._run(r)
            x, y = max(lo, s0) - s0, min(hi, s0 + k) - s0
            out.append(run if (x, y) == (0, k) else run.slice(x, y))
        return out

    def _run(self, r: int) -> Run:
        lo = self.layouts[int(self.run_layout[r])]
        k = int(self.run_len[r])
        v0 = int(self.run_vstart[r])
        mat = self.values[v0 : v0 + lo.width * k].reshape(lo.width, k)
        flags = int(self.run_flags[r])
        if flags & (_SECOND_ORDER | _RESIDUAL_COUNT):
            mat = mat.copy()
            if flags & _SECOND_ORDER:  # every column but the sum (2) was differenced once more
                np.cumsum(mat[:2], axis=1, out=mat[:2])
                np.cumsum(mat[3:], axis=1, out=mat[3:])
            if flags & _RESIDUAL_COUNT:
                with np.errstate(invalid="ignore", over="ignore"):
                    mat[0] = _explained_count(mat) + mat[0]
        s0 = int(self.run_start[r])
        return Run(self.ts[s0 : s0 + k], lo, mat, self.hints_u8[s0 : s0 + k])

    # --- columns for the query engine (no per-run objects) ---------------------------------

    def _restored(self) -> F64:
        """The page's value words as the runs hold them: second-order columns summed back
        and residual counts added back, for every run at once (runs of one width and length
        as one 3-D array).  The same float operations in the same order as ``_run`` does
        per run, so the values are bit for bit the same.  Computed once per page."""
        got = self._restored_values
        if got is not None:
            return got
        vals = self.values
        flags = self.run_flags
        todo = np.flatnonzero(flags & (_SECOND_ORDER | _RESIDUAL_COUNT))
        if todo.size:
            vals = vals.copy()
            widths = self._run_widths()
            lens = self.run_len
            keys = widths[todo] * (1 << 40) + lens[todo] * 4 + flags[todo]
            if bool((keys == keys[0]).all()):
                groups = [todo]
            else:
                order = np.argsort(keys, kind="stable")
                cuts = np.flatnonzero(np.diff(keys[order])) + 1
                groups = np.split(todo[order], cuts)
            for g in groups:
                r0 = int(g[0])
                w, k, fl = int(widths[r0]), int(lens[r0]), int(flags[r0])
                v0 = self.run_vstart[g]
                contiguous = bool((np.diff(v0) == w * k).all())
                if contiguous:
                    a = int(v0[0])
                    cube = vals[a : a + g.size * w * k].reshape(g.size, w, k)
                else:
                    idx = v0[:, None] + np.arange(w * k, dtype=np.int64)[None, :]
                    cube = vals[idx].reshape(g.size, w, k)
                with np.errstate(invalid="ignore", over="ignore"):
                    if fl & _SECOND_ORDER:
                        np.cumsum(cube[:, :2], axis=2, out=cube[:, :2])
                        np.cumsum(cube[:, 3:], axis=2, out=cube[:, 3:])
                    if fl & _RESIDUAL_COUNT:
                        acc = cube[:, 1].copy()
                        for j in range(3, w):
                            acc += cube[:, j]
                        cube[:, 0] = acc + cube[:, 0]
                if not contiguous:
                    vals[idx] = cube.reshape(g.size, w * k)
        self._restored_values = vals
        return vals

    def _run_widths(self) -> I64:
        got: I64 = np.array([lo.width for lo in self.layouts], dtype=np.int64)[self.run_layout]
        return got

    def uniform_layout(self) -> Layout | None:
        """The page's one layout (bucket indexes ascending) when ``_uniform_matrix`` reads
        it straight from the value words, else None."""
        got = self._uniform()
        if got is None:
            return None
        lo = self.layouts[0]
        pos, neg = lo.positive, lo.negative
        if list(pos) != sorted(pos) or list(neg) != sorted(neg):
            return Layout(lo.schema, lo.zero_threshold, lo.custom_values, tuple(sorted(pos)),
                          tuple(sorted(neg)))
        return lo

    def _uniform(self) -> tuple[int, int, bool] | None:
        """(run length, flags, whole sums) when the page is one layout in runs of one
        length with one set of flags and every column but the sum holds whole numbers."""
        if self._uniform_got is None:
            self._uniform_got = (self._find_uniform(),)
        return self._uniform_got[0]

    def _find_uniform(self) -> tuple[int, int, bool] | None:
        nruns = int(self.run_len.shape[0])
        if len(self.layouts) != 1 or not nruns:
            return None
        k = int(self.run_len[0])
        fl = int(self.run_flags[0])
        if not bool((self.run_len == k).all()) or not bool((self.run_flags == fl).all()):
            return None
        ri = self._row_int.reshape(nruns, self.layouts[0].width)
        int_sum = bool(ri[:, 2].all())
        if not (bool(ri[:, :2].all()) and bool(ri[:, 3:].all()) and (int_sum or not bool(ri[:, 2].any()))):
            return None
        return k, fl, int_sum

    def _uniform_matrix(self, out: F64 | None = None) -> F64 | None:
        """The engine's matrix of the whole page (a row per sample, bucket columns in the
        layout's order; into ``out`` if given) straight from the value words, when the page
        is one layout in runs of one length with one set of flags, and every column but the
        sum holds whole numbers (a scraped page): the integer deltas summed once (and once
        more for a second-order run) in int64 and written transposed as floats in one pass,
        the residual count added back as ``_run`` adds it.  The same values bit for bit as
        the general way: whole numbers below 2**52 (what the writer checks before it takes
        second-order differences) sum exactly in both.  None when the page is not so."""
        got = self._uniform()
        if got is None:
            return None
        k, fl, int_sum = got
        nruns = int(self.run_len.shape[0])
        w = self.layouts[0].width
        words = self._words.reshape(nruns, w, k)
        z = _unzigzag(words)
        np.cumsum(z, axis=2, out=z)
        if fl & _SECOND_ORDER:
            np.cumsum(z[:, :2], axis=2, out=z[:, :2])
            np.cumsum(z[:, 3:], axis=2, out=z[:, 3:])
        resid = bool(fl & _RESIDUAL_COUNT)
        if resid and fl & _SECOND_ORDER:
            # second-order columns are whole, >= 0 and < 2**52 (the writer checked): when
            # the explained count stays below 2**53 every partial sum is exact, in int64
            # as in float, and adding the residual rounds the exact sum once either way
            acc = z[:, 1] + z[:, 3:].sum(axis=1)
            if int(acc.max(initial=0)) < 2**53:
                z[:, 0] += acc
                resid = False
        if out is None:
            out = np.empty((nruns * k, w), dtype=np.float64)
        t = out.reshape(nruns, k, w).transpose(0, 2, 1)  # (run, column, sample) view of out
        t[...] = z
        if not int_sum:
            t[:, 2] = np.bitwise_xor.accumulate(words[:, 2], axis=1).view(np.float64)
        if resid:
            with np.errstate(invalid="ignore", over="ignore"):
                acc = t[:, 1].copy()
                for j in range(3, w):
                    acc += t[:, j]
                t[:, 0] = acc + t[:, 0]
        return out

    def selected(self, rows: I64, mint: int, maxt: int) -> tuple[I64, I64]:
        """The samples (page positions) of rows ``rows`` in ``[mint, maxt]``, and how many
        each row keeps."""
        last = self._selected
        if last is not None and last[0] is rows and last[1] == mint and last[2] == maxt:
            return last[3], last[4]
        nrows = len(self)
        ts = self.ts
        inside = mint <= int(ts.min(initial=mint)) and int(ts.max(initial=maxt)) <= maxt
        if inside and rows.shape[0] == nrows:  # every sample (rows ascend, no repeats)
            at = np.arange(ts.shape[0], dtype=np.int64)
            counts = self.counts
        else:
            want = np.zeros(nrows, dtype=np.bool_)
            want[rows] = True
            row_of = np.repeat(np.arange(nrows, dtype=np.int64), self.counts)
            keep = want[row_of]
            if not inside:
                keep &= (ts >= mint) & (ts <= maxt)
            at = np.flatnonzero(keep)
            counts = np.bincount(row_of[at], minlength=nrows)[rows]
        self._selected = (rows, mint, maxt, at, counts)
        return at, counts

    def columns(self, rows: I64, mint: int, maxt: int, into: F64 | None = None) -> PageColumns:
        """Rows ``rows`` (ascending) of the page, their samples in ``[mint, maxt]``, as the
        query engine's columns (``model.histcols``): one ``Layout`` per layout of the page
        that any of them uses, a row per sample, bucket columns ascending; one gather per
        layout, no object per run or per sample.  ``into`` (only for a page with a
        ``uniform_layout``): where its matrix goes, a row per selected sample."""
        at, counts = self.selected(rows, mint, maxt)
        ts = self.ts
        if self._uniform() is not None:
            lo = self.layouts[0]
            pos, neg = lo.positive, lo.negative
            ordered = list(pos) == sorted(pos) and list(neg) == sorted(neg)
            every = at.shape[0] == ts.shape[0]
            whole = self._uniform_matrix(into if every and ordered else None)
            assert whole is not None
            if not every:
                whole = whole[at]
            if not ordered:  # the engine's bucket indexes ascend
                cols = np.concatenate(([0, 1, 2], 3 + np.argsort(pos), 3 + len(pos) + np.argsort(neg)))
                whole = whole[:, cols]
                lo = Layout(lo.schema, lo.zero_threshold, lo.custom_values, tuple(sorted(pos)),
                            tuple(sorted(neg)))
            if into is not None and whole is not into:
                into[...] = whole
                whole = into
            if every:  # views (the caller joins the pages' arrays)
                return PageColumns(ts, counts, np.zeros(at.shape[0], dtype=np.int32), at,
                                   [(lo, whole, self.hints_u8.view(np.int8))])
            return PageColumns(ts[at], counts, np.zeros(at.shape[0], dtype=np.int32),
                               np.arange(at.shape[0], dtype=np.int64),
                               [(lo, whole, self.hints_u8[at].astype(np.int8))])
        if into is not None:
            raise ValueError("columns(into=) needs a page with a uniform layout")
        vals = self._restored()
        run_of = np.repeat(np.arange(self.run_len.shape[0], dtype=np.int64), self.run_len)[at]
        within = at - self.run_start[run_of]
        lay_of = self.run_layout[run_of]
        lid = np.empty(at.shape[0], dtype=np.int32)
        row = np.empty(at.shape[0], dtype=np.int64)
        layouts: list[tuple[Layout, F64, npt.NDArray[np.int8]]] = []
        used = np.unique(lay_of)
        for li in used.tolist():
            lo = self.layouts[li]
            pick = np.arange(at.shape[0]) if used.shape[0] == 1 else np.flatnonzero(lay_of == li)
            r = run_of[pick]
            k = self.run_len[r]
            base = self.run_vstart[r] + within[pick]
            cols = np.arange(lo.width, dtype=np.int64)
            pos, neg = lo.positive, lo.negative
            if list(pos) != sorted(pos) or list(neg) != sorted(neg):  # the engine's ascend
                cols = np.concatenate(([0, 1, 2], 3 + np.argsort(pos), 3 + len(pos) + np.argsort(neg)))
                lo = Layout(lo.schema, lo.zero_threshold, lo.custom_values, tuple(sorted(pos)),
                            tuple(sorted(neg)))
            k0 = int(self.run_len[0])
            if pick.shape[0] == vals.shape[0] // lo.width == self.run_len.shape[0] * k0 \
                    and bool((self.run_len == k0).all()):
                # every sample of the page, runs of one length: one transposing copy
                m = vals.reshape(-1, lo.width, k0).transpose(0, 2, 1).reshape(-1, lo.width)
                if cols.shape[0] and not bool((cols == np.arange(lo.width)).all()):
                    m = m[:, cols]
            else:
                m = vals[base[:, None] + k[:, None] * cols[None, :]]
            lid[pick] = len(layouts)
            row[pick] = np.arange(pick.shape[0], dtype=np.int64)
            layouts.append((lo, m, self.hints_u8[at[pick]].astype(np.int8)))
        return PageColumns(ts[at], counts, lid, row, layouts)
