"""Truncating the head: dropping what has been cut into a block, and the bounds that follow."""

from __future__ import annotations

import numpy as np

from guardia.storage.tsdb.chunks import row_starts
from guardia.storage.tsdb.head_compress import HeadCompress
from guardia.storage.tsdb.head_layout import F64, I64, INT64_MAX, INT64_MIN, Span
from guardia.storage.tsdb.merge import assemble


class HeadTruncate(HeadCompress):
    """Truncation below a time."""

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
