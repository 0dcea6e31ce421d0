"""Truncating the head: dropping what has been cut into a block, and the bounds that follow."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from guardia.storage.tsdb.chunks import row_starts
from guardia.storage.tsdb.head_compress import HeadCompress
from guardia.storage.tsdb.head_layout import F64, I64, INT64_MAX, INT64_MIN, Page, Span, Window, mapped_zeros
from guardia.storage.tsdb.merge import assemble


class HeadTruncate(HeadCompress):
    """Truncation below a time, and the series garbage collection that follows it."""

    def dead_series(self, below: int) -> I64:
        """Refs under ``below`` with no sample left in the head (after ``truncate``, exact)."""
        n = min(self.num_series, below)
        out: I64 = np.flatnonzero(self.first_t[:n] == INT64_MAX).astype(np.int64)
        return out

    def drop_series(self, dead: I64) -> I64:
        """Forget the series ``dead`` and renumber the others 0, 1, 2, ... in their order, as
        Prometheus's head GC drops series without chunks.  Returns the map old ref → new ref
        (-1 for a dropped one) so holders of refs can follow.

        Every per-ref array, window row, page and span is rebuilt at the new size (new
        objects: a frozen view or a reader of the old ones is not disturbed) and the index is
        rebuilt without the dropped series, their postings and the label values only they had.
        Dropped series hold no samples, so no answer changes.
        """
        n = self.num_series
        keep = np.ones(n, dtype=np.bool_)
        keep[dead] = False
        newid = np.cumsum(keep, dtype=np.int64) - 1
        newid[~keep] = -1
        k = int(keep.sum())
        self.index = self.index.compacted(keep)
        cap = max(k + k // 4, 1024)

        def shrink(a: npt.NDArray[np.generic], fill: int) -> npt.NDArray[np.generic]:
            b = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
            b[:k] = a[:n][keep]
            return b

        def page(p: Page) -> Page:
            q = Page.__new__(Page)
            q._refs = newid[p.refs()].astype(np.int32)
            q.mint, q.maxt, q.nsamples, q.blob = p.mint, p.maxt, p.nsamples, p.blob
            return q

        self.last_t = shrink(self.last_t, INT64_MIN)  # type: ignore[assignment]
        self.last_bits = shrink(self.last_bits, 0)  # type: ignore[assignment]
        self.first_t = shrink(self.first_t, INT64_MAX)  # type: ignore[assignment]
        for wid, w in list(self.windows.items()):
            ts = mapped_zeros((cap, self.S), w.ts.dtype.type)
            vs = mapped_zeros((cap, self.S), np.float64)
            ts[:k] = w.ts[:n][keep]
            vs[:k] = w.vs[:n][keep]
            self.windows[wid] = Window(w.wid, w.base, ts, vs, shrink(w.n, 0),  # type: ignore[arg-type]
                                       [page(p) for p in w.spills], w.touched, w.times, w.codes)
        spans = []
        for sp in self.spans:
            m = keep[: sp.frame_of.shape[0]]
            spans.append(replace(sp, frames=[page(p) for p in sp.frames], frame_of=sp.frame_of[m].copy()))
        self.spans = spans
        self.ooo = {int(newid[r]): buf for r, buf in self.ooo.items()}
        self._cap = cap
        self._mark = np.zeros(0, dtype=np.int32)
        self._mark_base = 1
        self._rank = None
        return newid

    def truncate(self, before: int, written_ooo: dict[int, dict[int, float]] | None = None) -> None:
        """Drop every sample older than ``before`` and refuse such samples from now on.

        ``written_ooo``: the out-of-order samples the block just written holds (its view's
        copy).  Late samples accepted below ``before`` while the block was written (the
        out-of-order window reaches below the head) are not in it and stay for the next cut.
        """
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
                self.truncate(before, written_ooo)
                return
        for r in list(self.ooo):
            done = None if written_ooo is None else written_ooo.get(r, {})
            buf = {t: v for t, v in self.ooo[r].items()
                   if t >= before or (done is not None and t not in done)}
            if buf:
                self.ooo[r] = buf
            else:
                del self.ooo[r]
        self._recompute_bounds()

    def _recompute_bounds(self) -> None:
        n = self.num_series
        first = np.full(n, INT64_MAX, dtype=np.int64)
        # Spans cover disjoint windows, so in order of their start the first one holding a
        # series has its minimum.  The list itself is not in time order when windows were
        # compressed out of order (a commit reaching back, out-of-order samples): walking it
        # as it is gave a too-high first time, and the next cut then left the series out.
        for sp in sorted(self.spans, key=lambda sp: sp.start):
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
            first[has] = np.minimum(first[has], w.offsets((has, 0)).astype(np.int64) + w.base)
        for r, buf in self.ooo.items():
            first[r] = min(int(first[r]), min(buf))
        self.first_t[:n] = first
        self.mint = int(first.min()) if n else INT64_MAX
        if self.mint == INT64_MAX:
            self.maxt = INT64_MIN
