"""Native histogram samples of the embedded store's head: in memory and in the WAL.

Histogram samples are few beside floats (one per histogram series and scrape, where a
classic histogram has one float per bucket), so they live beside the float head rather
than in it: a per-series list of (timestamp, histogram), keyed by label set so the
head's series garbage collection and ref renumbering never touch them.

Durability follows the float path: each commit is one WAL record (``REC_HISTOGRAMS``,
self-contained: label set, timestamp, histogram), replayed on open; a checkpoint writes
the samples still in memory.  When the head is cut, the histogram samples of the cut
range go into the block with the floats (``histblock``, ``histpages``) and leave memory.

Out of order (within ``out_of_order_time_window``) a sample is put in its place in its
series' lists, which stay in time order, so reads, cuts and checkpoints need no merge; one
below the head's lower bound (*late*: its range is in blocks) is logged as its own record
(``REC_HISTOGRAMS_LATE``) and waits in the same lists for a block of its own.

Encoding of WAL records (and of the range files older versions kept beside the blocks,
read by ``histmigrate``), per histogram: the hint, the schema, then the zero threshold,
zero count, count and sum, the custom bounds, and each side's buckets as (index delta,
count) pairs.  Counts that are whole numbers (every scraped histogram's) are varints; the
others are float64s, flagged once per histogram.
"""

from __future__ import annotations

import bisect
import math
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain
from pathlib import Path
from typing import TYPE_CHECKING

from guardia.model import Labels, Matcher
from guardia.model.histogram import COUNTER_RESET, NOT_COUNTER_RESET, FloatHistogram
from guardia.model.varint import encode_varint, read_varint

if TYPE_CHECKING:  # the block modules load zstandard and numpy, which an agent reading the WAL
    # never needs: numpy (the columns, their codec) is imported by the head's functions
    import numpy as np

    from guardia.model.histcols import HistCols, Layout
    from guardia.storage.interface import SeriesSet
    from guardia.storage.tsdb.histblock import ColumnHistograms

_F64 = struct.Struct("<d")
_F64x2 = struct.Struct("<dd")
_WHOLE = 1  # flag: every count is a whole number, written as a varint
SUFFIX = ".nh"

# what ``HistogramStore.check_columns`` says of a sample it takes (or drops) out of order
OOO = "out of order, within the window"
LATE = "below the head, within the window"
DROP = "out of order at a timestamp held already"
TOO_OLD = "too old sample"
TAKEN = frozenset((OOO, LATE))


class HistogramDecodeError(ValueError):
    """A damaged histogram WAL record or (old) range file."""


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _unzz(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _whole(c: float) -> bool:
    return math.isfinite(c) and 0 <= c < 2**53 and c == int(c)


def _put_varints(out: bytearray, values: Iterable[int]) -> None:
    """Unsigned varints appended to ``out``, those of up to three bytes inline (most of a
    scraped histogram's: bucket index steps and counts below two million)."""
    append = out.append
    for v in values:
        if v < 0x80:
            append(v)
        elif v < 0x4000:
            append((v & 0x7F) | 0x80)
            append(v >> 7)
        elif v < 0x200000:
            append((v & 0x7F) | 0x80)
            append((v >> 7 & 0x7F) | 0x80)
            append(v >> 14)
        else:
            out += encode_varint(v)


def _all_whole(counts: list[float]) -> bool:
    try:
        return all(map(float.is_integer, counts)) and min(counts) >= 0 and max(counts) < 2**53
    except TypeError:  # an int among them (a histogram built by hand): the general test
        return all(_whole(c) for c in counts)


def encode_histogram(out: bytearray, h: FloatHistogram) -> None:
    counts = [h.zero_count, h.count, *h.positive.values(), *h.negative.values()]
    whole = _all_whole(counts)
    out.append(h.counter_reset_hint | (_WHOLE << 4 if whole else 0))
    _put_varints(out, (_zz(h.schema),))
    out += _F64x2.pack(h.zero_threshold, h.sum)
    if whole:
        _put_varints(out, (int(h.zero_count), int(h.count)))
    else:
        out += _F64x2.pack(h.zero_count, h.count)
    cv = h.custom_values
    _put_varints(out, (len(cv),))
    if cv:
        out += struct.pack(f"<{len(cv)}d", *cv)
    for side in (h.positive, h.negative):
        _put_varints(out, (len(side),))
        if not side:
            continue
        idx = sorted(side)
        if idx[-1] - idx[0] == len(idx) - 1:  # consecutive buckets: every later step is +1 (zz 2)
            deltas = [_zz(idx[0]), *([2] * (len(idx) - 1))]
        else:
            deltas = [_zz(b - a) for a, b in zip([0, *idx[:-1]], idx, strict=True)]
        if whole:
            counts_int = map(int, map(side.__getitem__, idx))
            _put_varints(out, chain.from_iterable(zip(deltas, counts_int, strict=True)))
        else:
            for d, i in zip(deltas, idx, strict=True):
                _put_varints(out, (d,))
                out += _F64.pack(side[i])


def _varints(buf: bytes | memoryview, pos: int, k: int) -> tuple[list[int], int]:
    """``k`` unsigned varints from ``pos`` (and the position after them), decoded inline: a
    replay reads tens of millions of them, and a call per varint was most of its time."""
    out: list[int] = []
    append = out.append
    for _ in range(k):
        b = buf[pos]
        pos += 1
        if b < 0x80:
            append(b)
            continue
        v, shift = b & 0x7F, 7
        while True:
            b = buf[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift >= 70:
                raise ValueError("varint overflows 64 bits")
        append(v)
    return out, pos


def decode_histogram(buf: bytes | memoryview, pos: int) -> tuple[FloatHistogram, int]:
    try:
        flags = buf[pos]
        pos += 1
        whole = bool(flags >> 4 & _WHOLE)
        z, pos = read_varint(buf, pos)
        h = FloatHistogram(schema=_unzz(z), counter_reset_hint=flags & 0x0F)
        h.zero_threshold = _F64.unpack_from(buf, pos)[0]
        h.sum = _F64.unpack_from(buf, pos + 8)[0]
        pos += 16

        def count(p: int) -> tuple[float, int]:
            if whole:
                v, p = read_varint(buf, p)
                return float(v), p
            return _F64.unpack_from(buf, p)[0], p + 8

        h.zero_count, pos = count(pos)
        h.count, pos = count(pos)
        n, pos = read_varint(buf, pos)
        h.custom_values = [_F64.unpack_from(buf, pos + 8 * k)[0] for k in range(n)]
        pos += 8 * n
        for k in range(2):
            n, pos = read_varint(buf, pos)
            if not n:
                continue
            if whole:  # (index delta, count) varints, 2n of them in a row: one tight loop
                vals, pos = _varints(buf, pos, 2 * n)
                deltas = vals[0::2]
                first = (deltas[0] >> 1) ^ -(deltas[0] & 1)
                if deltas[1:].count(2) == n - 1:  # consecutive buckets (zig-zag 2 is +1): a range
                    idxs: Iterable[int] = range(first, first + n)
                else:
                    idxs = accumulate((d >> 1) ^ -(d & 1) for d in deltas)
                side: dict[int, float] = dict(zip(idxs, map(float, vals[1::2]), strict=True))
            else:
                side, idx = {}, 0
                for _ in range(n):
                    d, pos = read_varint(buf, pos)
                    idx += _unzz(d)
                    side[idx] = _F64.unpack_from(buf, pos)[0]
                    pos += 8
            if k == 0:
                h.positive = side
            else:
                h.negative = side
        return h, pos
    except (IndexError, struct.error, ValueError) as e:
        raise HistogramDecodeError(f"damaged histogram at byte {pos}: {e}") from None


def _encode_labels(out: bytearray, labels: Labels) -> None:
    out += encode_varint(len(labels))
    for name, value in labels:
        for s in (name, value):
            b = s.encode()
            out += encode_varint(len(b))
            out += b


def _decode_labels(buf: bytes | memoryview, pos: int) -> tuple[Labels, int]:
    n, pos = read_varint(buf, pos)
    pairs = []
    for _ in range(n):
        ln, pos = read_varint(buf, pos)
        name = bytes(buf[pos : pos + ln]).decode()
        pos += ln
        lv, pos = read_varint(buf, pos)
        value = bytes(buf[pos : pos + lv]).decode()
        pos += lv
        pairs.append((name, value))
    return Labels(pairs), pos


Sample = tuple[Labels, int, FloatHistogram]
HeadColumns = tuple[list[int], "HistCols"]  # one series' timestamps and histograms as columns


def encode_samples(samples: Sequence[Sample]) -> bytes:
    """Samples as one record: per sample its label set, timestamp and histogram."""
    out = bytearray(encode_varint(len(samples)))
    cache = _LABEL_BYTES
    if len(cache) > LABEL_BYTES_MAX:
        cache.clear()
    stamps: dict[int, bytes] = {}
    for labels, t, h in samples:
        lb = cache.get(labels)
        if lb is None:
            enc = bytearray()
            _encode_labels(enc, labels)
            lb = cache[labels] = bytes(enc)
        out += lb
        tb = stamps.get(t)
        if tb is None:
            tb = stamps[t] = encode_varint(_zz(t))
        out += tb
        encode_histogram(out, h)
    return bytes(out)


# each series' label set as written, for the next commits (a scrape writes the same series
# every time); cleared when it holds more than LABEL_BYTES_MAX of them
_LABEL_BYTES: dict[Labels, bytes] = {}
LABEL_BYTES_MAX = 100_000


def label_bytes(labels: Sequence[Labels]) -> list[bytes]:
    """Each label set as a record writes it (cached across commits, as ``encode_samples``)."""
    cache = _LABEL_BYTES
    if len(cache) > LABEL_BYTES_MAX:
        cache.clear()
    out: list[bytes] = []
    for ls in labels:
        b = cache.get(ls)
        if b is None:
            enc = bytearray()
            _encode_labels(enc, ls)
            b = cache[ls] = bytes(enc)
        out.append(b)
    return out


def _label_end(buf: bytes | memoryview, pos: int) -> int:
    n, pos = read_varint(buf, pos)
    for _ in range(2 * n):
        ln, pos = read_varint(buf, pos)
        pos += ln
    return pos


def decode_samples(buf: bytes | memoryview, label_cache: dict[bytes, Labels] | None = None) -> list[Sample]:
    """Samples of one record.  ``label_cache`` (label bytes to ``Labels``) spares a replay
    decoding the same series' label set in every record."""
    try:
        n, pos = read_varint(buf, 0)
        out: list[Sample] = []
        for _ in range(n):
            labels, pos = _labels_at(buf, pos, label_cache)
            t, pos = read_varint(buf, pos)
            h, pos = decode_histogram(buf, pos)
            out.append((labels, _unzz(t), h))
        return out
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise HistogramDecodeError(f"damaged histogram record: {e}") from None


def _labels_at(buf: bytes | memoryview, pos: int, label_cache: dict[bytes, Labels] | None
               ) -> tuple[Labels, int]:
    """The label set at ``pos`` and where it ends, from ``label_cache`` when it holds these bytes."""
    if label_cache is None:
        return _decode_labels(buf, pos)
    end = _label_end(buf, pos)
    key = bytes(buf[pos:end])
    cached = label_cache.get(key)
    if cached is None:
        cached, _ = _decode_labels(buf, pos)
        label_cache[key] = cached
    return cached, end


def decode_columns(buf: bytes | memoryview, label_cache: dict[bytes, Labels] | None = None
                   ) -> tuple[list[Labels], list[int], HistCols]:
    """``decode_samples`` into columns: the label sets, the timestamps and the histograms
    (one ``Layout`` per layout among them), with no ``FloatHistogram`` built (a replay
    reads hundreds of thousands)."""
    import numpy as np

    from guardia.model.histcols import HistCols, Layout

    try:
        n, pos = read_varint(buf, 0)
        out_labels: list[Labels] = []
        out_ts: list[int] = []
        groups: dict[tuple[int, bytes, bytes, tuple[int, ...], tuple[int, ...]],
                     tuple[list[int], list[float], list[int]]] = {}
        unpack_dd = _F64x2.unpack_from
        for k in range(n):
            labels, pos = _labels_at(buf, pos, label_cache)
            out_labels.append(labels)
            t, pos = read_varint(buf, pos)
            out_ts.append((t >> 1) ^ -(t & 1))
            flags = buf[pos]
            pos += 1
            whole = flags >> 4 & _WHOLE
            z, pos = read_varint(buf, pos)
            thr_b = bytes(buf[pos : pos + 8])
            total = _F64.unpack_from(buf, pos + 8)[0]
            pos += 16
            if whole:
                zc_count, pos = _varints(buf, pos, 2)
                zc, count = zc_count
            else:
                zc, count = unpack_dd(buf, pos)
                pos += 16
            ncv, pos = read_varint(buf, pos)
            cv_b = bytes(buf[pos : pos + 8 * ncv])
            if len(cv_b) != 8 * ncv:
                raise ValueError("custom bounds run past the end")
            pos += 8 * ncv
            row: list[float] = [count, zc, total]
            idx_sides: list[tuple[int, ...]] = []
            for _side in range(2):
                m, pos = read_varint(buf, pos)
                if not m:
                    idx_sides.append(())
                    continue
                if whole:
                    vals, pos = _varints(buf, pos, 2 * m)
                    deltas = vals[0::2]
                    first = (deltas[0] >> 1) ^ -(deltas[0] & 1)
                    if deltas[1:].count(2) == m - 1:
                        idx_sides.append(tuple(range(first, first + m)))
                    else:
                        idx_sides.append(tuple(accumulate((d >> 1) ^ -(d & 1) for d in deltas)))
                    row += vals[1::2]
                else:
                    idxs: list[int] = []
                    i = 0
                    for _ in range(m):
                        d, pos = read_varint(buf, pos)
                        i += (d >> 1) ^ -(d & 1)
                        idxs.append(i)
                        row.append(_F64.unpack_from(buf, pos)[0])
                        pos += 8
                    idx_sides.append(tuple(idxs))
            key = ((z >> 1) ^ -(z & 1), thr_b, cv_b, idx_sides[0], idx_sides[1])
            g = groups.get(key)
            if g is None:
                g = groups[key] = ([], [], [])
            g[0].append(k)
            g[1].extend(row)
            g[2].append(flags & 0x0F)
        lid = np.empty(n, dtype=np.int32)
        rown = np.empty(n, dtype=np.int64)
        layouts: list[Layout] = []
        for (schema, thr_b, cv_b, pidx, nidx), (ks, flat, hints) in groups.items():
            width = 3 + len(pidx) + len(nidx)
            mat = np.array(flat, dtype=np.float64).reshape(len(ks), width)
            cv = struct.unpack(f"<{len(cv_b) // 8}d", cv_b)
            lid[ks] = len(layouts)
            rown[ks] = np.arange(len(ks), dtype=np.int64)
            layouts.append(Layout(schema, _F64.unpack(thr_b)[0], cv, pidx, nidx, mat,
                                  np.array(hints, dtype=np.int8)))
        return out_labels, out_ts, HistCols(lid, rown, layouts)
    except (IndexError, struct.error, ValueError, UnicodeDecodeError, OverflowError) as e:
        raise HistogramDecodeError(f"damaged histogram record: {e}") from None


def _holds(ts: list[int], t: int) -> bool:
    k = bisect.bisect_left(ts, t)
    return k < len(ts) and ts[k] == t


class _UnknownHints:
    """Rows whose counter-reset hint must become *unknown* because a sample was put among
    a series' samples out of order: the inserted one and the one after it (its hint spoke of
    a predecessor it no longer has).  Prometheus marks out-of-order histogram chunks so and
    leaves the engine to detect resets there; a gauge keeps its hint.

    Rows are copied (layouts are shared and never changed) into one new layout per source
    layout, given its id at once and its matrix by ``finish``."""

    __slots__ = ("_fixed", "_layouts", "_new")

    def __init__(self, layouts: list[Layout]) -> None:
        self._layouts = layouts
        self._new: dict[int, tuple[int, list[int]]] = {}  # source layout -> (new id, its rows)
        self._fixed: set[int] = set()

    def unknown(self, li: int, r: int) -> tuple[int, int]:
        if li in self._fixed or int(self._layouts[li].hint[r]) not in (COUNTER_RESET, NOT_COUNTER_RESET):
            return li, r
        got = self._new.get(li)
        if got is None:
            got = self._new[li] = (len(self._layouts), [])
            self._layouts.append(self._layouts[li])  # a placeholder until ``finish``
            self._fixed.add(got[0])
        got[1].append(r)
        return got[0], len(got[1]) - 1

    def finish(self) -> None:
        import dataclasses

        import numpy as np

        for li, (new, rows) in self._new.items():
            lay = self._layouts[li]
            idx = np.array(rows, dtype=np.int64)
            self._layouts[new] = dataclasses.replace(
                lay, m=lay.m[idx], hint=np.zeros(len(rows), dtype=np.int8),
                keep=None if lay.keep is None else lay.keep[idx])


def unknown_hints(cols: HistCols, at: np.ndarray) -> HistCols:
    """``cols`` with the counter-reset hints of positions ``at`` (a mask) made *unknown*
    where they say reset or no reset: samples that follow one from another source in a
    merge of interleaved sources.  The rows are copied into new layouts (shared ones are
    never changed); the columns come back as they are when none needs it."""
    import dataclasses

    import numpy as np

    from guardia.model.histcols import HistCols

    idx = np.flatnonzero(at & (cols.lid >= 0))
    if not idx.size:
        return cols
    layouts = list(cols.layouts)
    lid, row = cols.lid.copy(), cols.row.copy()
    changed = False
    for li in np.unique(lid[idx]).tolist():
        lay = layouts[li]
        sel = idx[lid[idx] == li]
        sel = sel[np.isin(lay.hint[row[sel]], (COUNTER_RESET, NOT_COUNTER_RESET))]
        if not sel.size:
            continue
        rows = row[sel]
        layouts.append(dataclasses.replace(lay, m=lay.m[rows], hint=np.zeros(len(rows), dtype=np.int8),
                                           keep=None if lay.keep is None else lay.keep[rows]))
        lid[sel] = len(layouts) - 1
        row[sel] = np.arange(len(rows), dtype=np.int64)
        changed = True
    return HistCols(lid, row, layouts) if changed else cols


class _Series:
    """One series' samples in memory: timestamps, and where each histogram is (the store's
    layout id and the row in it)."""

    __slots__ = ("lid", "row", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.lid: list[int] = []
        self.row: list[int] = []


class HistogramStore:
    """The head's histogram samples (in memory, logged in the WAL); older ones are in the
    blocks' histogram parts (``histblock``), written when the head is cut.

    In memory the histograms are columns (``model.histcols``): each commit's histograms of
    one layout are one ``Layout`` in ``_layouts`` (ids never move while a sample uses them;
    ``drop_before`` renumbers the ones still used), and a series lists its timestamps and
    (layout id, row) pairs, so neither a commit nor a select builds a Python object per
    histogram."""

    def __init__(self) -> None:
        self._mem: dict[Labels, _Series] = {}
        self._layouts: list[Layout] = []
        self._lock = threading.Lock()
        # Samples below this time are in blocks and refused as too old.
        self.min_valid_t = -(2**63)
        self.max_t = -(2**63)

    def __len__(self) -> int:
        return sum(len(s.ts) for s in self._mem.values())

    @property
    def mint(self) -> int:
        """The oldest sample's timestamp (the largest int64 when there is none)."""
        with self._lock:
            return min((s.ts[0] for s in self._mem.values() if s.ts), default=2**63 - 1)

    # -- writing ---------------------------------------------------------------------------

    def _histograms(self, s: _Series, a: int, b: int) -> list[FloatHistogram]:
        """Samples ``[a, b)`` of a series as objects."""
        import numpy as np

        from guardia.model.histcols import HistCols

        if b <= a:
            return []
        cols = HistCols(np.array(s.lid[a:b], dtype=np.int32), np.array(s.row[a:b], dtype=np.int64),
                        self._layouts)
        out: list[FloatHistogram] = cols.objects().tolist()
        return out

    def check_columns(self, labels: Sequence[Labels], ts: Sequence[int], cols: HistCols,
                      window: int = 0, newest: int = -(2**63), sequential: bool = False
                      ) -> tuple[list[str | None] | None, list[_Series | None]]:
        """Why each sample of a batch would be refused, or taken out of order (the histogram
        is built only to compare a repeated newest timestamp's): the reasons (None when every
        sample would be taken in order), and each sample's series as found (for
        ``add_columns``).  Below ``min_valid_t`` a sample is "out of bounds"; older than its
        series' newest "out of order sample"; at the newest timestamp with another
        histogram "duplicate sample for timestamp" (the same one again is taken, and stored
        once).

        With an out-of-order window (``window`` > 0, counted back from ``newest``, the
        head's newest sample: Prometheus 3's rule) a sample older than its series' newest is
        taken as ``OOO``, one below ``min_valid_t`` (its range is in blocks) as ``LATE``, and
        one at a timestamp the series holds already is ``DROP``ped (the first stored wins, no
        error: Prometheus's out-of-order chunks do the same); those older than the window are
        refused as ``TOO_OLD``.  The samples of one batch are checked against the store as
        it was before it, unless ``sequential`` (a batch where a series comes more than once
        at different times, as remote write sends them): then each against the store with
        the batch's samples before it taken."""
        if sequential:
            return self._check_sequential(labels, ts, cols, window, newest)
        floor = self.min_valid_t
        get = self._mem.get
        found = [get(ls) for ls in labels]
        out: list[str | None] | None = None
        for k, (s, t) in enumerate(zip(found, ts, strict=True)):
            why: str | None = None
            if t < floor:
                if window <= 0:
                    why = "out of bounds"
                elif t < newest - window:
                    why = TOO_OLD
                else:
                    why = DROP if s is not None and _holds(s.ts, t) else LATE
            elif s is not None and s.ts and t <= s.ts[-1]:
                if t == s.ts[-1]:
                    h = cols.take(slice(k, k + 1)).objects()[0]
                    same = self._histograms(s, len(s.ts) - 1, len(s.ts))[0] == h
                    why = None if same else "duplicate sample for timestamp"
                elif window <= 0:
                    why = "out of order sample"
                elif t < newest - window:
                    why = TOO_OLD
                else:
                    why = DROP if _holds(s.ts, t) else OOO
            if why is not None:
                if out is None:
                    out = [None] * len(found)
                out[k] = why
        return out, found

    def _check_sequential(self, labels: Sequence[Labels], ts: Sequence[int], cols: HistCols, window: int,
                          newest: int) -> tuple[list[str | None] | None, list[_Series | None]]:
        """``check_columns`` of a batch in its order: a sample older than one before it in
        the batch is out of order (taken within the window), one at a time the batch has
        taken already for its series is dropped (the first wins, as ``add_columns`` keeps
        it)."""
        floor = self.min_valid_t
        get = self._mem.get
        found = [get(ls) for ls in labels]
        out: list[str | None] = [None] * len(found)
        state: dict[Labels, tuple[int | None, set[int]]] = {}
        for k, (ls, s, t) in enumerate(zip(labels, found, ts, strict=True)):
            st = state.get(ls)
            if st is None:
                st = (s.ts[-1] if s is not None and s.ts else None, set())
            last, taken = st
            held = t in taken or (s is not None and _holds(s.ts, t))
            why: str | None = None
            if t < floor:
                why = "out of bounds" if window <= 0 else TOO_OLD if t < newest - window else \
                    DROP if held else LATE
            elif last is None or t > last:
                last = t
            elif t == last:
                if t in taken:
                    why = DROP  # the batch's own repeat: its first stays
                else:
                    h = cols.take(slice(k, k + 1)).objects()[0]
                    assert s is not None
                    same = self._histograms(s, len(s.ts) - 1, len(s.ts))[0] == h
                    why = None if same else "duplicate sample for timestamp"
            else:
                why = "out of order sample" if window <= 0 else TOO_OLD if t < newest - window else \
                    DROP if held else OOO
            if why is None or why in TAKEN:
                taken.add(t)
            state[ls] = (last, taken)
            out[k] = why
        return (out if any(w is not None for w in out) else None), found

    def add(self, samples: Sequence[Sample]) -> None:
        """Samples already checked (and logged): appended to their series."""
        from guardia.model.histcols import HistCols

        if samples:
            cols = HistCols.from_objects([h for _, _, h in samples])
            self.add_columns([ls for ls, _, _ in samples], [t for _, t, _ in samples], cols)

    def add_columns(self, labels: Sequence[Labels], ts: Sequence[int], cols: HistCols,
                    found: Sequence[_Series | None] | None = None) -> None:
        """A batch already checked (and logged): sample ``k`` of series ``labels[k]`` at
        ``ts[k]`` is position ``k`` of ``cols`` (1-D, a histogram everywhere); ``found``:
        each sample's series as ``check_columns`` found it."""
        with self._lock:
            base = len(self._layouts)
            self._layouts.extend(cols.layouts)
            mem = self._mem
            max_t = self.max_t
            if found is None:
                found = [mem.get(ls) for ls in labels]
            fix: _UnknownHints | None = None
            for ls, s, t, li, r in zip(labels, found, ts, (cols.lid + base).tolist(), cols.row.tolist(),
                                       strict=True):
                if s is None:
                    s = mem.get(ls)
                    if s is None:
                        s = mem[ls] = _Series()
                if s.ts and t <= s.ts[-1]:
                    # older than the series' newest: into its place unless the time is taken
                    # (a duplicate of the newest checked equal, or an out-of-order one)
                    k = bisect.bisect_left(s.ts, t)
                    if s.ts[k] == t:
                        continue
                    if fix is None:
                        fix = _UnknownHints(self._layouts)
                    li, r = fix.unknown(li, r)
                    s.lid[k], s.row[k] = fix.unknown(s.lid[k], s.row[k])
                    s.ts.insert(k, t)
                    s.lid.insert(k, li)
                    s.row.insert(k, r)
                    continue
                s.ts.append(t)
                s.lid.append(li)
                s.row.append(r)
                if t > max_t:
                    max_t = t
            if fix is not None:
                fix.finish()
            self.max_t = max_t

    def late_samples(self) -> int:
        """How many samples wait below ``min_valid_t`` (taken as ``LATE``) for a block of
        their own."""
        floor = self.min_valid_t
        with self._lock:
            return sum(bisect.bisect_left(s.ts, floor) for s in self._mem.values() if s.ts[0] < floor)

    def _encode(self, items: Sequence[tuple[Labels, _Series, int, int]]) -> bytes:
        """Samples ``[a, b)`` of the given (series, a, b) as one record (label sets in the
        given order, each series' samples in time order): ``encode_samples``'s bytes, from
        the columns."""
        import numpy as np

        from guardia.model.histcols import HistCols
        from guardia.storage.tsdb.histencode import encode_columns

        labels: list[Labels] = []
        ts: list[int] = []
        lid: list[int] = []
        row: list[int] = []
        for ls, s, a, b in items:
            labels += [ls] * (b - a)
            ts += s.ts[a:b]
            lid += s.lid[a:b]
            row += s.row[a:b]
        cols = HistCols(np.array(lid, dtype=np.int32), np.array(row, dtype=np.int64), self._layouts)
        return encode_columns(label_bytes(labels), np.array(ts, dtype=np.int64), cols)

    def records(self, late: bool = False) -> Iterator[bytes]:
        """The samples in memory as WAL record payloads (for a checkpoint): those from
        ``min_valid_t`` on, or with ``late`` those below it (``REC_HISTOGRAMS_LATE``
        records, replayed without the bound)."""
        with self._lock:
            floor = self.min_valid_t
            batch: list[tuple[Labels, _Series, int, int]] = []
            size = 0
            for labels, s in list(self._mem.items()):
                k = bisect.bisect_left(s.ts, floor) if s.ts[0] < floor else 0
                a, b = (0, k) if late else (k, len(s.ts))
                if a == b:
                    continue
                batch.append((labels, s, a, b))
                size += b - a
                if size >= 5000:
                    yield self._encode(batch)
                    batch, size = [], 0
            if batch:
                yield self._encode(batch)

    def frozen_before(self, end: int) -> ColumnHistograms:
        """The samples older than ``end`` (set ``min_valid_t`` to ``end`` first: no more
        come), for a block write; ``drop_before`` removes them once the block is in place.
        Only the per-series lists are copied here (under the lock); the block is written
        from the layouts' rows outside it."""
        from guardia.storage.tsdb.histblock import ColumnHistograms

        with self._lock:
            out: dict[Labels, tuple[list[int], list[int], list[int]]] = {}
            for labels, s in self._mem.items():
                k = bisect.bisect_left(s.ts, end)
                if k:
                    out[labels] = (s.ts[:k], s.lid[:k], s.row[:k])
            return ColumnHistograms(out, self._layouts)

    def drop_before(self, end: int) -> None:
        with self._lock:
            for s in self._mem.values():
                k = bisect.bisect_left(s.ts, end)
                if k:
                    del s.ts[:k]
                    del s.lid[:k]
                    del s.row[:k]
            self._mem = {lb: s for lb, s in self._mem.items() if s.ts}
            self._drop_unused_layouts()

    def drop_frozen(self, view: ColumnHistograms) -> None:
        """Remove the samples of ``view`` (``frozen_before``'s, now in a block).  Late samples
        taken while the block was written may sit among them: they stay for the next cut."""
        with self._lock:
            for labels, vts in view.timestamps().items():
                s = self._mem.get(labels)
                if s is None:
                    continue
                k = len(vts)
                if s.ts[:k] == vts:  # nothing came in between (every cut but a rare late one)
                    del s.ts[:k]
                    del s.lid[:k]
                    del s.row[:k]
                    continue
                gone = set(vts)
                keep = [i for i, t in enumerate(s.ts) if t not in gone]
                s.ts = [s.ts[i] for i in keep]
                s.lid = [s.lid[i] for i in keep]
                s.row = [s.row[i] for i in keep]
            self._mem = {lb: s for lb, s in self._mem.items() if s.ts}
            self._drop_unused_layouts()

    def _drop_unused_layouts(self) -> None:
        """Renumber the layouts still used (call with the lock held)."""
        used = sorted(set(chain.from_iterable(s.lid for s in self._mem.values())))
        if len(used) == len(self._layouts):
            return
        new = {old: k for k, old in enumerate(used)}
        self._layouts = [self._layouts[k] for k in used]
        for s in self._mem.values():
            s.lid = [new[x] for x in s.lid]

    # -- reading ---------------------------------------------------------------------------

    def select(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> dict[Labels, HeadColumns]:
        """Samples of the matching series in ``[mint, maxt]``, by series, as (timestamps,
        histogram columns) in time order (no object per sample; the columns of every series
        share one list of layouts)."""
        import numpy as np

        from guardia.model.histcols import HistCols

        out: dict[Labels, HeadColumns] = {}
        with self._lock:
            layouts = list(self._layouts)
            for labels, s in self._mem.items():
                if all(m.matches(labels.get(m.name)) for m in matchers):
                    # ``ts`` is in time order: the range is two bisections, not a test per sample
                    a, b = bisect.bisect_left(s.ts, mint), bisect.bisect_right(s.ts, maxt)
                    if a < b:
                        out[labels] = (s.ts[a:b], HistCols(np.array(s.lid[a:b], dtype=np.int32),
                                                           np.array(s.row[a:b], dtype=np.int64), layouts))
        return out

    def describe(self) -> tuple[int, int, set[Labels]]:
        """What ``tsdb analyze`` reports: the series and samples in memory, and every label
        set."""
        with self._lock:
            return len(self._mem), sum(len(x.ts) for x in self._mem.values()), set(self._mem)

    def label_sets(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        with self._lock:
            return [labels for labels, s in self._mem.items()
                    if all(m.matches(labels.get(m.name)) for m in matchers)
                    and bisect.bisect_left(s.ts, mint) < bisect.bisect_right(s.ts, maxt)]

    @property
    def empty(self) -> bool:
        return not self._mem


def range_of(p: Path) -> tuple[int, int] | None:
    if not p.name.endswith(SUFFIX):
        return None
    stem = p.name[: -len(SUFFIX)].split(".")[0]
    a, sep, b = stem.rpartition("-")
    if not sep:
        return None
    try:
        return int(a), int(b)
    except ValueError:
        return None


def merge_into(found_labels: list[Labels], ts: np.ndarray, vs: np.ndarray, starts: np.ndarray,
               extra: dict[Labels, HeadColumns]) -> SeriesSet:
    """The float series of a select with the histogram samples of ``extra`` merged in
    (a histogram wins over a float at the same timestamp); series sorted as they came,
    histogram-only series after them.  The histograms stay columns (``SeriesSet.hcols``)."""
    import numpy as np

    from guardia.model.histcols import HistCols
    from guardia.storage.interface import SeriesSet

    labels: list[Labels] = []
    parts_t: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    parts_h: list[HistCols] = []
    bounds = starts.tolist()
    for i, ls in enumerate(found_labels):
        a, b = bounds[i], bounds[i + 1]
        cols = extra.pop(ls, None)
        labels.append(ls)
        if not cols:
            parts_t.append(ts[a:b])
            parts_v.append(vs[a:b])
            parts_h.append(HistCols.none((b - a,)))
            continue
        t, v, h = _merged(ts[a:b].tolist(), vs[a:b].tolist(), cols)
        parts_t.append(t)
        parts_v.append(v)
        parts_h.append(h)
    for ls, cols in extra.items():
        labels.append(ls)
        t, v, h = _merged([], [], cols)
        parts_t.append(t)
        parts_v.append(v)
        parts_h.append(h)
    out_starts = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in parts_t], out=out_starts[1:])
    if not labels:
        return SeriesSet([], np.zeros(0, dtype=np.int64), np.zeros(0), out_starts)
    return SeriesSet(labels, np.concatenate(parts_t).astype(np.int64, copy=False),
                     np.concatenate(parts_v).astype(np.float64, copy=False), out_starts,
                     hcols=HistCols.concat(parts_h))


def _merged(fts: list[int], fvs: list[float], cols: HeadColumns) -> tuple[np.ndarray, np.ndarray, HistCols]:
    import numpy as np

    from guardia.model.histcols import HistCols

    hts, hc = cols
    if not fts:  # histograms alone, in time order: no merge needed unless times repeat
        times = np.array(hts, dtype=np.int64)
        if times.shape[0] < 2 or bool((np.diff(times) > 0).all()):
            return times, np.full(len(hts), np.nan), hc
    by_t: dict[int, float] = dict(zip(fts, fvs, strict=True))
    hist_at: dict[int, int] = {}
    for k, t in enumerate(hts):
        by_t[t] = math.nan
        hist_at[t] = k
    order = sorted(by_t)
    pick = np.array([hist_at.get(t, -1) for t in order], dtype=np.int64)
    is_h = pick >= 0
    lid = np.full(len(order), -1, dtype=np.int32)
    row = np.zeros(len(order), dtype=np.int64)
    lid[is_h] = hc.lid[pick[is_h]]
    row[is_h] = hc.row[pick[is_h]]
    values = np.array([np.nan if t in hist_at else by_t[t] for t in order], dtype=np.float64)
    return np.array(order, dtype=np.int64), values, HistCols(lid, row, hc.layouts)
