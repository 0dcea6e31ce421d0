"""Native histogram samples of the embedded store's head: in memory and in the WAL.

Histogram samples are few beside floats (one per histogram series and scrape, where a
classic histogram has one float per bucket), so they live beside the float head rather
than in it: a per-series list of (timestamp, histogram), keyed by label set so the
head's series garbage collection and ref renumbering never touch them.

Durability follows the float path: each commit is one WAL record (``REC_HISTOGRAMS``,
self-contained: label set, timestamp, histogram), replayed on open; a checkpoint writes
the samples still in memory.  When the head is cut, the histogram samples of the cut
range go into the block with the floats (``histblock``, ``histpages``) and leave memory.

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
from guardia.model.histogram import FloatHistogram
from guardia.model.varint import encode_varint, read_varint
from guardia.storage.interface import Series

if TYPE_CHECKING:  # the block modules load zstandard and numpy, which an agent reading the WAL
    # never needs; numpy is for reads (``merge_into``)
    import numpy as np

    from guardia.storage.tsdb.histblock import MemoryHistograms
    from guardia.storage.tsdb.histpages import Columns

_F64 = struct.Struct("<d")
_F64x2 = struct.Struct("<dd")
_WHOLE = 1  # flag: every count is a whole number, written as a varint
SUFFIX = ".nh"


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
            if label_cache is not None:
                end = _label_end(buf, pos)
                key = bytes(buf[pos:end])
                cached = label_cache.get(key)
                if cached is None:
                    cached, _ = _decode_labels(buf, pos)
                    label_cache[key] = cached
                labels, pos = cached, end
            else:
                labels, pos = _decode_labels(buf, pos)
            t, pos = read_varint(buf, pos)
            h, pos = decode_histogram(buf, pos)
            out.append((labels, _unzz(t), h))
        return out
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise HistogramDecodeError(f"damaged histogram record: {e}") from None


class _Series:
    __slots__ = ("hs", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.hs: list[FloatHistogram] = []


class HistogramStore:
    """The head's histogram samples (in memory, logged in the WAL); older ones are in the
    blocks' histogram parts (``histblock``), written when the head is cut."""

    def __init__(self) -> None:
        self._mem: dict[Labels, _Series] = {}
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

    def check(self, labels: Labels, t: int, h: FloatHistogram) -> str | None:
        """Why a sample would be refused (None: it would be taken)."""
        if t < self.min_valid_t:
            return "out of bounds"
        s = self._mem.get(labels)
        if s is not None and s.ts and t <= s.ts[-1]:
            # as the float head: only the newest sample's timestamp may come again (same value)
            if t == s.ts[-1]:
                return None if s.hs[-1] == h else "duplicate sample for timestamp"
            return "out of order sample"
        return None

    def add(self, samples: Sequence[Sample]) -> None:
        """Samples already checked (and logged): appended to their series."""
        with self._lock:
            for labels, t, h in samples:
                s = self._mem.get(labels)
                if s is None:
                    s = self._mem[labels] = _Series()
                if s.ts and t <= s.ts[-1]:
                    continue  # a duplicate of the newest (checked equal)
                s.ts.append(t)
                s.hs.append(h)
                if t > self.max_t:
                    self.max_t = t

    def records(self) -> Iterator[bytes]:
        """The samples in memory as WAL record payloads (for a checkpoint)."""
        batch: list[Sample] = []
        for labels, s in list(self._mem.items()):
            batch.extend((labels, t, h) for t, h in zip(s.ts, s.hs, strict=True))
            if len(batch) >= 5000:
                yield encode_samples(batch)
                batch = []
        if batch:
            yield encode_samples(batch)

    def frozen_before(self, end: int) -> MemoryHistograms:
        """The samples older than ``end`` (set ``min_valid_t`` to ``end`` first: no more
        come), for a block write; ``drop_before`` removes them once the block is in place."""
        with self._lock:
            out: dict[Labels, Columns] = {}
            for labels, s in self._mem.items():
                k = bisect.bisect_left(s.ts, end)
                if k:
                    out[labels] = (s.ts[:k], s.hs[:k])
        from guardia.storage.tsdb.histblock import MemoryHistograms

        return MemoryHistograms(out)

    def drop_before(self, end: int) -> None:
        with self._lock:
            for s in self._mem.values():
                k = bisect.bisect_left(s.ts, end)
                if k:
                    del s.ts[:k]
                    del s.hs[:k]
            self._mem = {lb: s for lb, s in self._mem.items() if s.ts}

    # -- reading ---------------------------------------------------------------------------

    def select(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> dict[Labels, Columns]:
        """Samples of the matching series in ``[mint, maxt]``, by series, as (timestamps,
        histograms) in time order (two lists: no tuple per sample)."""
        out: dict[Labels, Columns] = {}
        with self._lock:
            for labels, s in self._mem.items():
                if all(m.matches(labels.get(m.name)) for m in matchers):
                    # ``ts`` is in time order: the range is two bisections, not a test per sample
                    a, b = bisect.bisect_left(s.ts, mint), bisect.bisect_right(s.ts, maxt)
                    if a < b:
                        out[labels] = (s.ts[a:b], s.hs[a:b])
        return out

    def describe(self) -> tuple[int, int, set[Labels]]:
        """What ``tsdb analyze`` reports: the series and samples in memory, and every label
        set."""
        with self._lock:
            return len(self._mem), sum(len(x.ts) for x in self._mem.values()), set(self._mem)

    def label_sets(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return list(self.select(matchers, mint, maxt))

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
               extra: dict[Labels, Columns]) -> list[Series]:
    """The float series of a select with the histogram samples of ``extra`` merged in
    (a histogram wins over a float at the same timestamp); series sorted as they came,
    histogram-only series after them."""
    out: list[Series] = []
    bounds = starts.tolist()
    for i, labels in enumerate(found_labels):
        a, b = bounds[i], bounds[i + 1]
        cols = extra.pop(labels, None)
        if not cols:
            out.append(Series(labels, ts[a:b], vs[a:b]))
            continue
        out.append(_merged(labels, ts[a:b].tolist(), vs[a:b].tolist(), cols))
    for labels, cols in extra.items():
        out.append(_merged(labels, [], [], cols))
    return out


def _merged(labels: Labels, fts: list[int], fvs: list[float], cols: Columns) -> Series:
    import numpy as np

    hts, hhs = cols
    if not fts:  # histograms alone, in time order: no merge needed unless times repeat
        times = np.array(hts, dtype=np.int64)
        if times.shape[0] < 2 or bool((np.diff(times) > 0).all()):
            column = np.empty(len(hhs), dtype=object)
            column[:] = hhs
            return Series(labels, times, np.full(len(hhs), np.nan), column)
    by_t: dict[int, float | FloatHistogram] = dict(zip(fts, fvs, strict=True))
    for t, h in zip(hts, hhs, strict=True):
        by_t[t] = h
    order = sorted(by_t)
    vals = [by_t[t] for t in order]
    hists = np.empty(len(order), dtype=object)
    hists[:] = [v if isinstance(v, FloatHistogram) else None for v in vals]
    return Series(
        labels,
        np.array(order, dtype=np.int64),
        np.array([np.nan if isinstance(v, FloatHistogram) else v for v in vals], dtype=np.float64),
        hists,
    )
