"""Reading the head: fragments of series from spans, window buffers, spills and out-of-order samples,
and the index queries a querier makes (``source.SeriesSource``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from guardia.model import Matcher
from guardia.storage.tsdb.chunks import (
    DECODE_BATCH_SAMPLES,
    ChunkCorruptError,
    decode_batches,
    decode_pages_rows,
)
from guardia.storage.tsdb.head_layout import I64, INT64_MAX, INT64_MIN, Page, Span, Window
from guardia.storage.tsdb.head_series import HeadSeries
from guardia.storage.tsdb.merge import Fragment
from guardia.storage.tsdb.source import IndexedSource


class HeadRead(HeadSeries, IndexedSource):
    """What the querier, compaction and the WAL checkpoint read."""

    def fragments(self, q: I64, mint: int, maxt: int) -> list[Fragment]:
        """Samples of the series ``q`` (sorted refs) overlapping [mint, maxt], in time order.

        Fragments may hold samples just outside the range; ``merge.assemble`` trims them.
        """
        out: list[Fragment] = []
        if not q.size:
            return out
        q32 = q.astype(np.int32)  # page refs are int32: keys of their type, no conversion
        qmax = int(q.max())
        for sp in self.spans:
            if sp.maxt < mint or sp.mint > maxt:
                continue
            out.extend(_span_fragments(sp, q, q32, qmax, mint, maxt))
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

    def _buffer_fragment(self, w: Window, q: I64, qidx: I64) -> Fragment:
        c = w.n[q].astype(np.int64)
        if c.shape[0] and bool((c == self.S).all()):  # full rows (a compressed window): no mask
            return Fragment(qidx, c, w.offsets(q).ravel().astype(np.int64) + w.base, w.vs[q].ravel())
        mask = np.arange(self.S)[None, :] < c[:, None]
        ts = w.offsets(q)[mask].astype(np.int64) + w.base
        return Fragment(qidx, c, ts, w.vs[q][mask])

    def _span_fragments(self, sp: Span, q: I64) -> list[Fragment]:
        saved, wins, ooo = self.spans, self.windows, self.ooo
        self.spans, self.windows, self.ooo = [sp], {}, {}
        try:
            return self.fragments(q, INT64_MIN, INT64_MAX)
        finally:
            self.spans, self.windows, self.ooo = saved, wins, ooo

    def _sample_at(self, ref: int, t: int) -> float | None:
        """The value already stored for (ref, t), looking in every head structure."""
        q = np.array([ref], dtype=np.int64)
        for f in self.fragments(q, t, t):
            hit = np.nonzero(f.ts == t)[0]
            if hit.size:
                return float(f.vs[hit[0]])
        return None

    def refs_in_range(self, mint: int, maxt: int) -> npt.NDArray[np.bool_]:
        n = self.num_series
        return (self.first_t[:n] <= maxt) & (self.last_t[:n] >= mint) | self._ooo_mask(n, mint, maxt)

    def _ooo_mask(self, n: int, mint: int, maxt: int) -> npt.NDArray[np.bool_]:
        m = np.zeros(n, dtype=np.bool_)
        for r, buf in self.ooo.items():
            if any(mint <= t <= maxt for t in buf):
                m[r] = True
        return m

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        ids = self.index.postings_for(matchers) if matchers else self.index.all_ids()
        if ids.size:
            ids = ids[self.refs_in_range(mint, maxt)[ids]]
        return ids

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


def _span_fragments(
    sp: Span, q: I64, q32: npt.NDArray[np.int32], qmax: int, mint: int, maxt: int
) -> list[Fragment]:
    """Fragments of the query series ``q`` held by span ``sp``.

    A selector across the storage order (one instance of a big job) wants a few rows of
    each of many pages: per page only its rows are looked up and its frames inflated
    (``chunks.decode_pages_rows``); everything else runs once per span, in numpy.
    """
    fo = sp.frame_of[q] if qmax < sp.frame_of.shape[0] else _frame_of(sp, q)
    hit = np.nonzero(fo >= 0)[0]
    if not hit.size:
        return []
    fh = fo[hit]
    if fh.shape[0] > 1 and bool((fh[1:] < fh[:-1]).any()):
        order = np.argsort(fh, kind="stable")
        hit, fh = hit[order], fh[order]
    qs = q32[hit]  # the query's refs, grouped by page
    cut = (np.nonzero(fh[1:] != fh[:-1])[0] + 1).tolist()
    frames = sp.frames
    per_row = max(1, frames[int(fh[0])].nsamples // max(frames[int(fh[0])].nrows, 1))
    out: list[Fragment] = []
    items: list[tuple[bytes, I64]] = []
    kept: list[tuple[int, int]] = []  # positions in ``hit`` of the pages decoded
    budget = 0
    for a, b, f in zip([0, *cut], [*cut, fh.shape[0]], fh[[0, *cut]].tolist(), strict=True):
        page = frames[f]
        if page.mint > maxt or page.maxt < mint:
            continue
        items.append((page.blob, page._refs.searchsorted(qs[a:b])))
        kept.append((a, b))
        budget += (b - a) * per_row
        if budget >= DECODE_BATCH_SAMPLES:  # a huge select never holds two copies of all
            out.append(_decoded_fragment(items, kept, hit))
            items, kept, budget = [], [], 0
    if items:
        out.append(_decoded_fragment(items, kept, hit))
    return out


def _frame_of(sp: Span, q: I64) -> npt.NDArray[np.int32]:
    """``sp.frame_of[q]`` for refs that may be newer than the span (-1 for those)."""
    inside = q < sp.frame_of.shape[0]
    fo = np.full(q.shape[0], -1, dtype=np.int32)
    fo[inside] = sp.frame_of[q[inside]]
    return fo


def _decoded_fragment(items: list[tuple[bytes, I64]], kept: list[tuple[int, int]], hit: I64) -> Fragment:
    dec = decode_pages_rows(items)
    if dec.bad:  # head pages are built in memory: a failure is a bug, not disk damage
        raise ChunkCorruptError(f"head page {dec.bad[0][0]} does not decode: {dec.bad[0][1]}")
    lo, hi = kept[0][0], kept[-1][1]
    if hi - lo == sum(b - a for a, b in kept):  # the pages' positions are one run
        qidx = hit[lo:hi]
    else:
        qidx = np.concatenate([hit[a:b] for a, b in kept])
    return Fragment(qidx.astype(np.int64, copy=False), dec.counts.astype(np.int64), dec.ts, dec.vs, dec.row)


def _pages_fragments(pages: list[tuple[Page, I64]], q: I64) -> list[Fragment]:
    """Fragments for the query positions ``qidx`` held by each page, pages decoded in
    batches (``chunks.decode_pages_rows``).  A series must not appear in two pages of one
    call: each batch becomes one fragment."""

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
