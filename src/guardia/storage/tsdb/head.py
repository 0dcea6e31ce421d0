"""The head: recent samples of every active series, in memory.

Layout, and why it is fast and small:

* Series refs are dense integers, so per-series state lives in numpy arrays indexed by
  ref: the newest timestamp and value bits (order and duplicate checks) and the oldest
  timestamp (time-bounded label queries).
* Time is cut into aligned *windows* (``block_range / 30``: 4 minutes for 2 h blocks).
  Samples of the current window sit uncompressed in a window buffer: a matrix of
  ``chunk_slots`` (timestamp offset, value) slots per series.  Appending a scrape —
  many refs, one timestamp — is a handful of fancy-indexed numpy writes.
* Once every target has moved past a window, the whole window is compressed at once: all
  series, in label order, in *frames* of ``page_rows`` series (``chunks.encode_page``).
  Because frames follow label order, the series of one metric sit in a few frames, so a
  query decodes a few frames per window no matter how many targets expose the metric.
* A series that fills its slots before the window ends (scraped faster than every
  ``window / chunk_slots``) spills the full rows into a compressed page of the window;
  spills are folded into the window's frames when it is compressed.
* Out-of-order samples accepted within the configured window live in a small per-series
  side buffer; they are rare and merged at read time.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.storage.interface import AppendStats
from guardia.storage.tsdb.chunks import (
    ChunkCorruptError,
    decode_batches,
    decode_page,
    decode_pages_rows,
    encode_page,
    row_starts,
)
from guardia.storage.tsdb.index import MemIndex
from guardia.storage.tsdb.merge import Fragment, assemble, gather_rows
from guardia.storage.tsdb.options import TSDBOptions

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)


def _malloc_trim() -> Callable[[], None]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return lambda: None

    def release() -> None:
        trim(0)

    return release


release_free_memory = _malloc_trim()
"""Give freed heap memory back to the OS.

Compressing a window allocates and frees many medium-sized temporary arrays; glibc keeps
that memory in its heap, where it would count as resident forever.
"""


_FRAMES_PER_BATCH = 16  # frames built per batch when compressing (8,192 series at 512 rows)
_MAPPED_MIN = 1 << 18  # smaller window buffers (small heads, tests) come from np.zeros

A = TypeVar("A", bound=np.generic)


def mapped_zeros(shape: tuple[int, int], dtype: type[A]) -> npt.NDArray[A]:
    """A zeroed array in its own anonymous memory map.

    A window buffer is written only where series have samples and dropped whole once
    compressed.  From ``np.zeros`` it may come out of the allocator's heap, reusing
    memory that must be cleared (all of it resident at once) and, once freed, staying in
    the heap; a map is zero pages until written and goes back to the OS when dropped.
    """
    nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
    if nbytes < _MAPPED_MIN:
        return np.zeros(shape, dtype=dtype)
    out: npt.NDArray[A] = np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype).reshape(shape)
    return out


def mapped_grow(a: npt.NDArray[A], cap: int) -> npt.NDArray[A]:
    b = mapped_zeros((cap, a.shape[1]), a.dtype.type)
    b[: a.shape[0]] = a
    return b


# How many windows of data a reopened window may trail the newest sample before it is
# compressed even though a late sender may still be writing to it.
_REOPENED_PATIENCE = 4

class Page:
    """Compressed rows of several series (refs sorted ascending)."""

    __slots__ = ("_refs", "blob", "maxt", "mint", "nsamples")

    def __init__(self, refs: I64, counts: I64, ts: I64, vs: F64, level: int) -> None:
        self._refs = refs.astype(np.int32)
        self.mint = int(ts.min())
        self.maxt = int(ts.max())
        self.nsamples = int(ts.shape[0])
        self.blob = encode_page(counts.astype(np.int32), ts, vs, level)

    @classmethod
    def from_blob(cls, refs: I64, blob: bytes) -> Page:
        _, ts, _ = decode_page(blob)
        p = cls.__new__(cls)
        p._refs = refs.astype(np.int32)
        p.mint = int(ts.min())
        p.maxt = int(ts.max())
        p.nsamples = int(ts.shape[0])
        p.blob = blob
        return p

    def refs(self) -> I64:
        return self._refs.astype(np.int64)

    @property
    def nrows(self) -> int:
        return int(self._refs.shape[0])

    def decode(self) -> tuple[I64, I64, F64]:
        counts, ts, vs = decode_page(self.blob)
        return counts.astype(np.int64), ts, vs

    def rows(self, q: I64) -> I64:
        """Row numbers of the refs ``q`` (all present in this page)."""
        rows: I64 = np.searchsorted(self._refs, q).astype(np.int64)
        return rows


@dataclass(slots=True)
class Window:
    """Uncompressed samples of one time window (timestamps as offsets from ``base``)."""

    wid: int
    base: int
    ts: npt.NDArray[np.int32]
    vs: F64
    n: npt.NDArray[np.uint8]
    spills: list[Page] = field(default_factory=list)


@dataclass(slots=True)
class Span:
    """A compressed window: frames of label-ordered series, and which frame holds a ref."""

    start: int
    end: int
    frames: list[Page]
    frame_of: npt.NDArray[np.int16] | npt.NDArray[np.int32]
    mint: int
    maxt: int

    @property
    def nsamples(self) -> int:
        return sum(f.nsamples for f in self.frames)


class Head:
    """In-memory recent data; not thread-safe (the database serialises access)."""

    def __init__(self, options: TSDBOptions) -> None:
        self.options = options
        self.index = MemIndex()
        self.S = options.chunk_slots
        self.W = max(1000, options.block_range_ms // 30)
        self.grace = max(self.W // 2, 1)
        self._compressed_upto = -(1 << 62)  # highest window id compressed so far
        if not 1 <= self.S <= 255:
            raise ValueError("chunk_slots must be between 1 and 255")
        self._cap = 0
        self.last_t = np.zeros(0, dtype=np.int64)
        self.last_bits = np.zeros(0, dtype=np.uint64)
        self.first_t = np.zeros(0, dtype=np.int64)
        self.windows: dict[int, Window] = {}
        self.spans: list[Span] = []
        self.ooo: dict[int, dict[int, float]] = {}
        self.min_valid_t = INT64_MIN
        self.mint = INT64_MAX
        self.maxt = INT64_MIN
        self.ooo_window = options.out_of_order_time_window_ms
        self._mark = np.zeros(0, dtype=np.int32)
        self._mark_base = 1
        self._rank: I32 | None = None

    # --- series ---------------------------------------------------------------------------

    @property
    def num_series(self) -> int:
        return len(self.index)

    def ref_for(self, labels: Labels) -> tuple[int, bool]:
        """The ref of a label set, and whether it was created now."""
        ref, created = self.index.get_or_add(labels)
        if created:
            self._grow(ref + 1)
            self._rank = None
        return ref, created

    def _grow(self, n: int) -> None:
        if n <= self._cap:
            return
        # Grow by a quarter: these arrays are filled (resident) to capacity, and doubling
        # would leave up to half of them unused for good.
        cap = max(n, self._cap + self._cap // 4, 1024)

        def grow(a: npt.NDArray[np.generic], fill: int) -> npt.NDArray[np.generic]:
            b = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
            b[: a.shape[0]] = a
            return b

        self.last_t = grow(self.last_t, INT64_MIN)  # type: ignore[assignment]
        self.last_bits = grow(self.last_bits, 0)  # type: ignore[assignment]
        self.first_t = grow(self.first_t, INT64_MAX)  # type: ignore[assignment]
        for w in self.windows.values():
            w.ts = mapped_grow(w.ts, cap)
            w.vs = mapped_grow(w.vs, cap)
            w.n = grow(w.n, 0)  # type: ignore[assignment]
        self._cap = cap

    def _label_rank(self) -> I32:
        """Position of each ref in label order (cached until a series is added)."""
        if self._rank is None or self._rank.shape[0] != self.num_series:
            self._rank = self.index.layout_rank().astype(np.int32)
        return self._rank

    # --- appending ------------------------------------------------------------------------

    def append(self, refs: I64, ts: I64 | int, vs: F64, stats: AppendStats) -> None:
        """Append samples (any order, any refs); rejected ones are counted in ``stats``."""
        n = refs.shape[0]
        if n == 0:
            return
        if isinstance(ts, int):
            if self._unique(refs):
                self._round(refs, ts, vs, stats)
                self._finalize_due()
                return
            ts = np.full(n, ts, dtype=np.int64)
        order = np.lexsort((ts, refs))
        r, t, v = refs[order], ts[order], vs[order]
        newgrp = np.ones(n, dtype=np.bool_)
        newgrp[1:] = r[1:] != r[:-1]
        gstart = np.maximum.accumulate(np.where(newgrp, np.arange(n), 0))
        rank = np.arange(n) - gstart
        if int(rank.max()) == 0:
            self._round(r, t, v, stats)
        else:
            by_rank = np.argsort(rank, kind="stable")
            bounds = np.concatenate(([0], np.cumsum(np.bincount(rank))))
            for k in range(bounds.shape[0] - 1):
                sel = by_rank[bounds[k] : bounds[k + 1]]
                self._round(r[sel], t[sel], v[sel], stats)
        self._finalize_due()

    def _unique(self, refs: I64) -> bool:
        if refs.shape[0] < 2:
            return True
        if refs.shape[0] < 64:
            return bool(len(set(refs.tolist())) == refs.shape[0])
        # Stamp each ref with its position; a repeated ref keeps only one stamp.  Stamps
        # grow across calls, so the array is cleared only when int32 stamps run out.
        if self._mark.shape[0] < self._cap or self._mark_base + refs.shape[0] >= 2**31:
            self._mark = np.zeros(self._cap, dtype=np.int32)  # new, or stamps ran out
            self._mark_base = 1
        pos = np.arange(self._mark_base, self._mark_base + refs.shape[0], dtype=np.int32)
        self._mark_base += refs.shape[0]
        self._mark[refs] = pos
        return bool((self._mark[refs] == pos).all())

    def _round(self, refs: I64, t: I64 | int, vs: F64, stats: AppendStats) -> None:
        """Append at most one sample per series (``refs`` unique)."""
        lt = self.last_t[refs]
        bits = vs.view(np.uint64)
        if isinstance(t, int) and t >= self.min_valid_t and bool((lt < t).all()):
            self._write(refs, t, vs, bits)
            stats.appended += refs.shape[0]
            return
        tt = np.full(refs.shape[0], t, dtype=np.int64) if isinstance(t, int) else t
        oob = tt < self.min_valid_t
        ok = ~oob
        gt = (tt > lt) & ok
        eq = (tt == lt) & ok
        older = (tt < lt) & ok
        stats.out_of_bounds += int(oob.sum())
        if eq.any():
            stats.duplicate += int((eq & (self.last_bits[refs] != bits)).sum())
        if older.any():
            if self.ooo_window > 0:
                in_window = older & (tt >= lt - self.ooo_window)
                stats.out_of_order += int((older & ~in_window).sum())
                idx = np.nonzero(in_window)[0]
                if idx.size:
                    self._append_ooo(refs[idx], tt[idx], vs[idx], stats)
            else:
                stats.out_of_order += int(older.sum())
        if gt.any():
            sel = np.nonzero(gt)[0]
            r, ts_sel, v_sel, b_sel = refs[sel], tt[sel], vs[sel], bits[sel]
            wids = ts_sel // self.W
            w0 = int(wids[0])
            if bool((wids == w0).all()):
                self._write(r, ts_sel, v_sel, b_sel)
            else:
                for w in np.unique(wids).tolist():
                    m = wids == w
                    self._write(r[m], ts_sel[m], v_sel[m], b_sel[m])
            stats.appended += sel.shape[0]

    def _window(self, wid: int) -> Window:
        w = self.windows.get(wid)
        if w is None:
            cap = self._cap
            w = Window(
                wid, wid * self.W,
                mapped_zeros((cap, self.S), np.int32),
                mapped_zeros((cap, self.S), np.float64),
                np.zeros(cap, dtype=np.uint8),
            )
            self.windows[wid] = w
        return w

    def _write(self, r: I64, t: I64 | int, vs: F64, bits: U64) -> None:
        """In-order samples of one window (``r`` unique)."""
        t_first = t if isinstance(t, int) else int(t[0])
        w = self._window(t_first // self.W)
        pos = w.n[r]
        full = pos >= self.S
        if full.any():
            self._spill(w, r[full])
            pos = w.n[r]
        flat = r * self.S + pos  # 1-D stores: about three times cheaper than 2-D fancy ones
        w.ts.reshape(-1)[flat] = t - w.base
        w.vs.reshape(-1)[flat] = vs
        w.n[r] = pos + 1
        self.last_t[r] = t
        self.last_bits[r] = bits
        first = pos == 0
        if first.any():
            rf = r[first]
            tf = t if isinstance(t, int) else t[first]
            self.first_t[rf] = np.minimum(self.first_t[rf], tf)
        if isinstance(t, int):
            lo = hi = t
        else:
            lo, hi = int(t.min()), int(t.max())
        if lo < self.mint:
            self.mint = lo
        if hi > self.maxt:
            self.maxt = hi

    def _spill(self, w: Window, refs: I64) -> None:
        """Compress full rows of a window into a page and empty them."""
        refs = np.sort(refs)
        n = w.n[refs].astype(np.int64)
        mask = np.arange(self.S)[None, :] < n[:, None]
        ts = w.ts[refs][mask].astype(np.int64) + w.base
        vs = w.vs[refs][mask]
        w.spills.append(Page(refs, n, ts, vs, self.options.head_zstd_level))
        w.n[refs] = 0

    def _append_ooo(self, refs: I64, ts: I64, vs: F64, stats: AppendStats) -> None:
        for r, t, v in zip(refs.tolist(), ts.tolist(), vs.tolist(), strict=True):
            existing = self._sample_at(r, t)
            if existing is not None:
                if np.float64(existing).view(np.uint64) != np.float64(v).view(np.uint64):
                    stats.duplicate += 1
                continue
            self.ooo.setdefault(r, {})[t] = v
            stats.appended += 1
            if t < self.first_t[r]:
                self.first_t[r] = t
            self.mint = min(self.mint, t)

    def _sample_at(self, ref: int, t: int) -> float | None:
        """The value already stored for (ref, t), looking in every head structure."""
        q = np.array([ref], dtype=np.int64)
        for f in self.fragments(q, t, t):
            hit = np.nonzero(f.ts == t)[0]
            if hit.size:
                return float(f.vs[hit[0]])
        return None

    # --- compressing windows ----------------------------------------------------------------

    def _finalize_due(self) -> None:
        if len(self.windows) < 2 and not self._late_windows():
            return
        for wid in sorted(self.windows):
            if self._due(wid):
                self.finalize(wid)

    def _due(self, wid: int) -> bool:
        """Whether window ``wid`` is complete enough to compress.

        A window reopened by late samples (a sender lagging minutes behind the others, such
        as a remote-write shard catching up) is compressed when the late sender has moved on
        to a later window, not after each of its batches: otherwise every late batch would
        pay a whole compression for a few thousand samples and leave a tiny span behind.
        Past ``_REOPENED_PATIENCE`` windows of lag it is compressed anyway, so a sender that
        stops cannot keep a buffer uncompressed until the next block cut.
        """
        end = (wid + 1) * self.W + self.grace
        if end > self.maxt:
            return False
        if wid > self._compressed_upto:
            return True
        newest_reopened = max(w for w in self.windows if w <= self._compressed_upto)
        return wid != newest_reopened or end + _REOPENED_PATIENCE * self.W <= self.maxt

    def _late_windows(self) -> bool:
        return any(self._due(wid) for wid in self.windows)

    def finalize(self, wid: int) -> None:
        """Compress window ``wid`` (spills and buffer) into label-ordered frames."""
        self._compressed_upto = max(self._compressed_upto, wid)
        self._compress_window(self.windows.pop(wid))
        release_free_memory()  # the window and the decoded batches are gone now

    def _compress_window(self, w: Window) -> None:
        n = self.num_series
        present = w.n[:n] > 0
        spill_refs = [p.refs() for p in w.spills]
        for pr in spill_refs:
            present[pr] = True
        refs = np.nonzero(present)[0].astype(np.int64)
        if not refs.size:
            return
        # Spill pages are in ref order and batches in label order (every batch touches
        # every page): decode each page once, not once per batch.
        spills = [(pr, *p.decode()) for pr, p in zip(spill_refs, w.spills, strict=True)]
        starts = [row_starts(c.astype(np.int32)) for _, c, _, _ in spills]
        slot = np.full(n, -1, dtype=np.int64)  # ref → its row in the current batch

        def rows_of(sub: I64) -> tuple[I64, I64, F64]:
            frags: list[Fragment] = []
            slot[sub] = np.arange(sub.shape[0])
            for (pr, counts, ts, vs), st in zip(spills, starts, strict=True):
                qi = slot[pr]
                rows = np.nonzero(qi >= 0)[0]
                if rows.size:
                    idx, c = gather_rows(st, counts, rows)
                    frags.append(Fragment(qi[rows], c, ts[idx], vs[idx]))
            slot[sub] = -1
            hs = sub[w.n[sub] > 0]
            if hs.size:
                frags.append(self._buffer_fragment(w, hs, np.searchsorted(sub, hs).astype(np.int64)))
            return assemble(sub.shape[0], frags, INT64_MIN, INT64_MAX)

        self._add_span(w.base, w.base + self.W, refs, rows_of)

    def _add_span(
        self, start: int, end: int, refs: I64, rows_of: Callable[[I64], tuple[I64, I64, F64]],
        level: int | None = None,
    ) -> None:
        """Frames for sorted ``refs``; rows without samples are dropped.

        ``rows_of(sub)`` gives (counts, ts, vs) of the sorted refs ``sub``.  It is asked
        for a few frames' worth of series at a time, in label order, so compressing a
        window or merging spans holds a few MiB of decoded samples, not all of them: a
        peak of decoded samples would stay in the allocator's heap as resident memory.
        """
        if not refs.size:
            return
        by_label = refs[np.argsort(self._label_rank()[refs], kind="stable")]
        rows = self.options.page_rows
        batch = rows * _FRAMES_PER_BATCH
        max_frames = -(-refs.shape[0] // rows) + -(-refs.shape[0] // batch)
        frame_of: npt.NDArray[np.int16] | npt.NDArray[np.int32] = (
            np.full(self.num_series, -1, dtype=np.int16)
            if max_frames < 2**15
            else np.full(self.num_series, -1, dtype=np.int32)
        )
        frames: list[Page] = []
        level = self.options.head_zstd_level if level is None else level
        for lo in range(0, by_label.shape[0], batch):
            in_label = by_label[lo : lo + batch]
            sub = np.sort(in_label)
            counts, ts, vs = rows_of(sub)
            pos = np.searchsorted(sub, in_label)  # label order, as rows of ``sub``
            pos = pos[counts[pos] > 0]
            starts = row_starts(counts.astype(np.int32))
            for f in range(0, pos.shape[0], rows):
                member = np.sort(pos[f : f + rows])  # rows in ascending ref order
                idx, c = gather_rows(starts, counts, member)
                frame_of[sub[member]] = len(frames)
                frames.append(Page(sub[member], c, ts[idx], vs[idx], level))
        if frames:
            self.spans.append(
                Span(start, end, frames, frame_of, min(f.mint for f in frames), max(f.maxt for f in frames))
            )

    def _buffer_fragment(self, w: Window, q: I64, qidx: I64) -> Fragment:
        c = w.n[q].astype(np.int64)
        if c.shape[0] and bool((c == self.S).all()):  # full rows (a compressed window): no mask
            return Fragment(qidx, c, w.ts[q].ravel().astype(np.int64) + w.base, w.vs[q].ravel())
        mask = np.arange(self.S)[None, :] < c[:, None]
        ts = w.ts[q][mask].astype(np.int64) + w.base
        return Fragment(qidx, c, ts, w.vs[q][mask])

    def merge_spans(self, factor: int = 10) -> int:
        """Merge the spans of each complete aligned ``factor × window`` range into one.

        Longer rows compress better (one raw first value per row instead of one per
        window) and a query touches fewer frames.  Returns how many ranges were merged.
        """
        width = self.W * factor
        live = {wid * self.W // width for wid in self.windows}
        groups: dict[int, list[int]] = {}
        for i, sp in enumerate(self.spans):
            if sp.end - sp.start < width:
                groups.setdefault(sp.start // width, []).append(i)
        merged = 0
        done: set[int] = set()
        new_spans: list[tuple[int, Span]] = []
        for k, idxs in groups.items():
            end = (k + 1) * width
            if k in live or end + self.grace > self.maxt or len(idxs) < 2:
                continue
            parts = [self.spans[i] for i in idxs]
            refs = np.unique(np.concatenate([np.nonzero(sp.frame_of >= 0)[0] for sp in parts])).astype(
                np.int64
            )

            def rows_of(sub: I64, parts: list[Span] = parts) -> tuple[I64, I64, F64]:
                frags: list[Fragment] = []
                for sp in parts:
                    frags.extend(self._span_fragments(sp, sub))
                return assemble(sub.shape[0], frags, INT64_MIN, INT64_MAX)

            before = len(self.spans)
            self._add_span(k * width, end, refs, rows_of)
            if len(self.spans) > before:
                new_spans.append((idxs[0], self.spans.pop()))
            done.update(idxs)
            merged += 1
        if merged:
            keep: list[Span] = []
            first_of = dict(new_spans)
            for i, sp in enumerate(self.spans):
                if i in first_of:
                    keep.append(first_of[i])
                if i not in done:
                    keep.append(sp)
            self.spans = keep
            release_free_memory()
        return merged

    def finalize_all(self) -> None:
        for wid in sorted(self.windows):
            self.finalize(wid)

    # --- reading --------------------------------------------------------------------------

    def fragments(self, q: I64, mint: int, maxt: int) -> list[Fragment]:
        """Samples of the series ``q`` (sorted refs) overlapping [mint, maxt], in time order.

        Fragments may hold samples just outside the range; ``merge.assemble`` trims them.
        """
        out: list[Fragment] = []
        if not q.size:
            return out
        for sp in self.spans:
            if sp.maxt < mint or sp.mint > maxt:
                continue
            inside = q < sp.frame_of.shape[0]
            fo = np.full(q.shape[0], -1, dtype=sp.frame_of.dtype)
            fo[inside] = sp.frame_of[q[inside]]
            hit = np.nonzero(fo >= 0)[0]
            if not hit.size:
                continue
            fh = fo[hit]
            order = np.argsort(fh, kind="stable")
            hit, fh = hit[order], fh[order]
            bounds = np.nonzero(np.diff(fh))[0] + 1
            pages: list[tuple[Page, I64]] = []
            for a, b in zip(np.concatenate(([0], bounds)).tolist(),
                            np.concatenate((bounds, [fh.shape[0]])).tolist(), strict=True):
                f = sp.frames[int(fh[a])]
                if f.mint <= maxt and f.maxt >= mint:
                    pages.append((f, hit[a:b].astype(np.int64)))
            out.extend(_pages_fragments(pages, q))
        for wid in sorted(self.windows):
            w = self.windows[wid]
            if w.base > maxt or w.base + self.W <= mint:
                continue
            spilled: list[tuple[Page, I64]] = []
            for p in w.spills:
                if p.maxt < mint or p.mint > maxt:
                    continue
                prefs = p._refs
                pos = np.minimum(np.searchsorted(prefs, q), prefs.shape[0] - 1)
                hitm = prefs[pos] == q
                if hitm.any():
                    spilled.append((p, np.nonzero(hitm)[0].astype(np.int64)))
            # one fragment per page: a series may be in several spill pages of a window
            for page in spilled:
                out.extend(_pages_fragments([page], q))
            c = w.n[q]
            has = np.nonzero(c)[0].astype(np.int64)
            if has.size:
                out.append(self._buffer_fragment(w, q[has], has))
        if self.ooo:
            qis: list[int] = []
            cs: list[int] = []
            tss: list[int] = []
            vss: list[float] = []
            for i, r in enumerate(q.tolist()):
                buf = self.ooo.get(r)
                if buf:
                    items = sorted(buf.items())
                    qis.append(i)
                    cs.append(len(items))
                    tss.extend(t for t, _ in items)
                    vss.extend(v for _, v in items)
            if qis:
                out.append(
                    Fragment(
                        np.array(qis, dtype=np.int64),
                        np.array(cs, dtype=np.int64),
                        np.array(tss, dtype=np.int64),
                        np.array(vss, dtype=np.float64),
                    )
                )
        return out

    def refs_in_range(self, mint: int, maxt: int) -> npt.NDArray[np.bool_]:
        n = self.num_series
        return (self.first_t[:n] <= maxt) & (self.last_t[:n] >= mint) | self._ooo_mask(n, mint, maxt)

    def _ooo_mask(self, n: int, mint: int, maxt: int) -> npt.NDArray[np.bool_]:
        m = np.zeros(n, dtype=np.bool_)
        for r, buf in self.ooo.items():
            if any(mint <= t <= maxt for t in buf):
                m[r] = True
        return m

    def num_samples(self) -> int:
        total = sum(sp.nsamples for sp in self.spans)
        for w in self.windows.values():
            total += int(w.n.sum(dtype=np.int64)) + sum(p.nsamples for p in w.spills)
        return total + sum(len(b) for b in self.ooo.values())

    def num_chunks(self) -> int:
        return sum(len(sp.frames) for sp in self.spans) + sum(len(w.spills) for w in self.windows.values())

    def chunk_bytes(self) -> int:
        total = sum(len(f.blob) for sp in self.spans for f in sp.frames)
        return total + sum(len(p.blob) for w in self.windows.values() for p in w.spills)

    # --- truncation -----------------------------------------------------------------------

    def truncate(self, before: int) -> None:
        """Drop every sample older than ``before`` and refuse such samples from now on."""
        self.min_valid_t = max(self.min_valid_t, before)
        kept: list[Span] = []
        for sp in self.spans:
            if sp.maxt < before:
                continue
            if sp.mint >= before:
                kept.append(sp)
                continue
            refs_all = np.nonzero(sp.frame_of >= 0)[0].astype(np.int64)

            def rows_of(sub: I64, sp: Span = sp) -> tuple[I64, I64, F64]:
                return assemble(sub.shape[0], self._span_fragments(sp, sub), before, INT64_MAX)

            before_len = len(self.spans)
            self._add_span(max(sp.start, before), sp.end, refs_all, rows_of)
            if len(self.spans) > before_len:
                kept.append(self.spans.pop())
        self.spans = kept
        for wid in sorted(self.windows):
            w = self.windows[wid]
            if w.base + self.W <= before:
                del self.windows[wid]
            elif w.base < before:
                self.finalize(wid)  # straddles the cut: compress, then trim as a span
                self.truncate(before)
                return
        for r in list(self.ooo):
            buf = {t: v for t, v in self.ooo[r].items() if t >= before}
            if buf:
                self.ooo[r] = buf
            else:
                del self.ooo[r]
        self._recompute_bounds()

    def _span_fragments(self, sp: Span, q: I64) -> list[Fragment]:
        saved, wins, ooo = self.spans, self.windows, self.ooo
        self.spans, self.windows, self.ooo = [sp], {}, {}
        try:
            return self.fragments(q, INT64_MIN, INT64_MAX)
        finally:
            self.spans, self.windows, self.ooo = saved, wins, ooo

    def _recompute_bounds(self) -> None:
        n = self.num_series
        first = np.full(n, INT64_MAX, dtype=np.int64)
        # Spans are in time order per series: the first one holding a series has its minimum.
        for sp in self.spans:
            refs = np.nonzero(sp.frame_of[:n] >= 0)[0]
            cur = first[refs]
            unseen = cur == INT64_MAX
            if unseen.any():
                sp_min = np.full(n, INT64_MAX, dtype=np.int64)
                for f in sp.frames:
                    counts, ts, _ = f.decode()
                    sp_min[f.refs()] = ts[row_starts(counts.astype(np.int32))]
                first[refs[unseen]] = sp_min[refs[unseen]]
        for w in self.windows.values():
            for p in w.spills:
                counts, ts, _ = p.decode()
                pr = p.refs()
                first[pr] = np.minimum(first[pr], ts[row_starts(counts.astype(np.int32))])
            has = np.nonzero(w.n[:n])[0]
            first[has] = np.minimum(first[has], w.ts[has, 0].astype(np.int64) + w.base)
        for r, buf in self.ooo.items():
            first[r] = min(int(first[r]), min(buf))
        self.first_t[:n] = first
        self.mint = int(first.min()) if n else INT64_MAX
        if self.mint == INT64_MAX:
            self.maxt = INT64_MIN

    # --- the querier's view (``source.SeriesSource``)  -------------------------------------

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        ids = self.index.postings_for(matchers) if matchers else self.index.all_ids()
        if ids.size:
            ids = ids[self.refs_in_range(mint, maxt)[ids]]
        return ids

    def labels_of(self, ids: I64) -> list[Labels]:
        return self.index.labels_of(ids)

    def label_names(self, ids: I64 | None) -> set[str]:
        return self.index.label_names(ids)

    def label_values(self, name: str, ids: I64 | None) -> set[str]:
        return self.index.label_values(name, ids)

    def frozen_before(self, end: int) -> FrozenHead:
        """A read-only view of the samples older than ``end``, safe to read without the lock.

        Callers first raise ``min_valid_t`` to ``end`` so nothing new lands there; spans are
        immutable once made and the view keeps its own lists, so appends, window
        compression and queries can go on while a block is written from the view.
        """
        return FrozenHead(self, end)

    # --- checkpoints ----------------------------------------------------------------------

    def export_frames(self) -> Iterator[tuple[int, int, int, I64, bytes]]:
        """(span number, start, end, refs, blob) of every compressed frame."""
        for i, sp in enumerate(self.spans):
            for f in sp.frames:
                yield i, sp.start, sp.end, f.refs(), f.blob

    def export_samples(self) -> tuple[I64, I64, F64]:
        """Every sample not in a span (window buffers and spills) as flat arrays."""
        rs: list[I64] = []
        tss: list[I64] = []
        vss: list[F64] = []
        n = self.num_series
        q = np.arange(n, dtype=np.int64)
        for wid in sorted(self.windows):
            w = self.windows[wid]
            for p in w.spills:
                counts, ts, vs = p.decode()
                rs.append(np.repeat(p.refs(), counts))
                tss.append(ts)
                vss.append(vs)
            c = w.n[:n].astype(np.int64)
            has = np.nonzero(c)[0]
            if has.size:
                f = self._buffer_fragment(w, q[has], has.astype(np.int64))
                rs.append(np.repeat(q[has], f.counts))
                tss.append(f.ts)
                vss.append(f.vs)
        if not rs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        return np.concatenate(rs), np.concatenate(tss), np.concatenate(vss)

    def load_span(self, start: int, end: int, frames: list[tuple[I64, bytes]]) -> None:
        """Adopt a span written by a checkpoint (its series exist already)."""
        frame_of: npt.NDArray[np.int16] | npt.NDArray[np.int32] = (
            np.full(self.num_series, -1, dtype=np.int16)
            if len(frames) < 2**15
            else np.full(self.num_series, -1, dtype=np.int32)
        )
        pages: list[Page] = []
        for refs, blob in frames:
            p = Page.from_blob(refs, blob)
            counts, ts, vs = p.decode()
            starts = row_starts(counts.astype(np.int32))
            ends = starts + counts - 1
            last = ts[ends]
            newer = last > self.last_t[refs]
            self.last_t[refs[newer]] = last[newer]
            self.last_bits[refs[newer]] = vs[ends][newer].view(np.uint64)
            self.first_t[refs] = np.minimum(self.first_t[refs], ts[starts])
            frame_of[refs] = len(pages)
            pages.append(p)
        if pages:
            sp = Span(start, end, pages, frame_of, min(p.mint for p in pages), max(p.maxt for p in pages))
            self.spans.append(sp)
            self.mint = min(self.mint, sp.mint)
            self.maxt = max(self.maxt, sp.maxt)

    def load_ooo(self, refs: I64, ts: I64, vs: F64) -> None:
        for r, t, v in zip(refs.tolist(), ts.tolist(), vs.tolist(), strict=True):
            self.ooo.setdefault(r, {})[t] = v
            if t < self.first_t[r]:
                self.first_t[r] = t
            self.mint = min(self.mint, t)

    def ooo_samples(self) -> tuple[I64, I64, F64]:
        r: list[int] = []
        t: list[int] = []
        v: list[float] = []
        for ref, buf in self.ooo.items():
            for tt, vv in buf.items():
                r.append(ref)
                t.append(tt)
                v.append(vv)
        return (np.array(r, dtype=np.int64), np.array(t, dtype=np.int64), np.array(v, dtype=np.float64))


class FrozenHead(Head):
    """See ``Head.frozen_before``: spans, late windows and out-of-order samples below a time."""

    def __init__(self, head: Head, end: int) -> None:
        n = head.num_series
        self.options = head.options
        self.S, self.W, self.grace = head.S, head.W, head.grace
        self._compressed_upto = head._compressed_upto
        self.spans = [sp for sp in head.spans if sp.mint < end]
        self.windows = {
            wid: Window(w.wid, w.base, w.ts.copy(), w.vs.copy(), w.n.copy(), list(w.spills))
            for wid, w in head.windows.items()
            if w.base < end
        }
        self.ooo = {r: {t: v for t, v in buf.items() if t < end} for r, buf in head.ooo.items()}
        self.index = head.index  # append-only: the first ``n`` series never change
        self._first = head.first_t[:n].copy()
        self._n = n

    @property
    def num_series(self) -> int:
        return self._n

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        if matchers:
            raise ValueError("a frozen head view only lists all its series")
        return np.nonzero(self._first <= maxt)[0].astype(np.int64)

    def labels_of(self, ids: I64) -> list[Labels]:
        if ids.size and int(ids.max()) >= self._n:
            raise IndexError("series created after the view was taken")
        return self.index.labels_of(ids)


def _pages_fragments(pages: list[tuple[Page, I64]], q: I64) -> list[Fragment]:
    """Fragments for the query positions ``qidx`` held by each page, pages decoded in
    batches (``chunks.decode_pages_rows``): a selector that cuts across the storage order
    (one instance of a big job, say) wants a few rows from each of many pages.  A series
    must not appear in two pages of one call: each batch becomes one fragment."""

    def selected(item: tuple[Page, I64]) -> int:
        page, qidx = item
        return int(page.nsamples * qidx.shape[0] // max(page.nrows, 1))

    return [_batch_fragment(batch, q) for batch in decode_batches(pages, selected)]


def _batch_fragment(batch: list[tuple[Page, I64]], q: I64) -> Fragment:
    dec = decode_pages_rows([(page.blob, page.rows(q[qidx])) for page, qidx in batch])
    if dec.bad:  # head pages are built in memory: a failure is a bug, not disk damage
        raise ChunkCorruptError(f"head page {dec.bad[0][0]} does not decode: {dec.bad[0][1]}")
    qidx_all = batch[0][1] if len(batch) == 1 else np.concatenate([qidx for _, qidx in batch])
    return Fragment(qidx_all, dec.counts.astype(np.int64), dec.ts, dec.vs, dec.row)
