"""The head: recent samples of every active series, in memory.

Layout (why it is fast): series refs are dense integers, so per-series state lives in
numpy arrays indexed by ref — the newest timestamp and value bits (for order and
duplicate checks), and an *open chunk* matrix of ``chunk_slots`` timestamp/value slots per
series.  Appending a scrape (many refs, one timestamp) is a handful of fancy-indexed
array operations.  When rows of the open matrix fill up — a scrape fills all its series'
rows at the same time — they are closed together into one compressed ``Page``
(``chunks.encode_page``), so the Python cost is per page, never per sample.

Out-of-order samples accepted within the configured window live in a small per-series
side buffer; they are rare and merged at read time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.storage.interface import AppendStats
from guardia.storage.tsdb.chunks import decode_page, encode_page, row_starts
from guardia.storage.tsdb.index import MemIndex
from guardia.storage.tsdb.merge import Fragment, gather_rows
from guardia.storage.tsdb.options import TSDBOptions

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)


class Page:
    """Closed, compressed rows of several series (refs sorted ascending)."""

    __slots__ = ("_counts", "_refs", "blob", "maxt", "mint", "nsamples", "ref_lo")

    def __init__(self, refs: I64, counts: I64, ts: I64, vs: F64, level: int) -> None:
        self.ref_lo = int(refs[0])
        # Refs of one scrape are usually consecutive: keep only the first then.
        contiguous = int(refs[-1]) - self.ref_lo + 1 == refs.shape[0]
        self._refs: npt.NDArray[np.int32] | int = (
            refs.shape[0] if contiguous else refs.astype(np.int32)
        )
        c0 = int(counts[0])
        self._counts: npt.NDArray[np.int32] | tuple[int, int] = (
            (c0, counts.shape[0]) if (counts == c0).all() else counts.astype(np.int32)
        )
        self.mint = int(ts.min())
        self.maxt = int(ts.max())
        self.nsamples = int(ts.shape[0])
        self.blob = encode_page(counts.astype(np.int32), ts, vs, level)

    @classmethod
    def from_blob(cls, refs: I64, blob: bytes) -> Page:
        counts, ts, _ = decode_page(blob)
        p = cls.__new__(cls)
        p.ref_lo = int(refs[0])
        contiguous = int(refs[-1]) - p.ref_lo + 1 == refs.shape[0]
        p._refs = refs.shape[0] if contiguous else refs.astype(np.int32)
        c0 = int(counts[0])
        p._counts = (c0, counts.shape[0]) if (counts == c0).all() else counts
        p.mint = int(ts.min())
        p.maxt = int(ts.max())
        p.nsamples = int(ts.shape[0])
        p.blob = blob
        return p

    def refs(self) -> I64:
        if isinstance(self._refs, int):
            return np.arange(self.ref_lo, self.ref_lo + self._refs, dtype=np.int64)
        return self._refs.astype(np.int64)

    def counts(self) -> I64:
        if isinstance(self._counts, tuple):
            return np.full(self._counts[1], self._counts[0], dtype=np.int64)
        return self._counts.astype(np.int64)

    def decode(self) -> tuple[I64, I64, F64]:
        counts, ts, vs = decode_page(self.blob)
        return counts.astype(np.int64), ts, vs


class Head:
    """In-memory recent data; not thread-safe (the database serialises access)."""

    def __init__(self, options: TSDBOptions) -> None:
        self.options = options
        self.index = MemIndex()
        self.S = options.chunk_slots
        self._cap = 0
        self.open_t = np.zeros((0, self.S), dtype=np.int64)
        self.open_v = np.zeros((0, self.S), dtype=np.float64)
        self.open_n = np.zeros(0, dtype=np.int32)
        self.last_t = np.zeros(0, dtype=np.int64)
        self.last_bits = np.zeros(0, dtype=np.uint64)
        self.first_t = np.zeros(0, dtype=np.int64)
        self.pages: list[Page] = []
        self.ooo: dict[int, dict[int, float]] = {}
        self.min_valid_t = INT64_MIN
        self.mint = INT64_MAX
        self.maxt = INT64_MIN
        self.ooo_window = options.out_of_order_time_window_ms

    # --- series ---------------------------------------------------------------------------

    @property
    def num_series(self) -> int:
        return len(self.index)

    def ref_for(self, labels: Labels) -> tuple[int, bool]:
        """The ref of a label set, and whether it was created now."""
        ref = self.index.get(labels)
        if ref is not None:
            return ref, False
        ref = self.index.add(labels)
        self._grow(ref + 1)
        return ref, True

    def _grow(self, n: int) -> None:
        if n <= self._cap:
            return
        cap = max(n, self._cap * 2, 1024)
        S = self.S

        def grow(a: npt.NDArray[np.generic], fill: int) -> npt.NDArray[np.generic]:
            shape = (cap, S) if a.ndim == 2 else (cap,)
            b = np.full(shape, fill, dtype=a.dtype)
            b[: a.shape[0]] = a
            return b

        self.open_t = grow(self.open_t, 0)  # type: ignore[assignment]
        self.open_v = grow(self.open_v, 0)  # type: ignore[assignment]
        self.open_n = grow(self.open_n, 0)  # type: ignore[assignment]
        self.last_t = grow(self.last_t, INT64_MIN)  # type: ignore[assignment]
        self.last_bits = grow(self.last_bits, 0)  # type: ignore[assignment]
        self.first_t = grow(self.first_t, INT64_MAX)  # type: ignore[assignment]
        self._cap = cap

    # --- appending ------------------------------------------------------------------------

    def append(self, refs: I64, ts: I64 | int, vs: F64, stats: AppendStats) -> None:
        """Append samples (any order, any refs); rejected ones are counted in ``stats``."""
        n = refs.shape[0]
        if n == 0:
            return
        if isinstance(ts, int):
            if self._unique(refs):
                self._round(refs, ts, vs, stats)
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
            return
        by_rank = np.argsort(rank, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(rank))))
        for k in range(bounds.shape[0] - 1):
            sel = by_rank[bounds[k] : bounds[k + 1]]
            self._round(r[sel], t[sel], v[sel], stats)

    def _unique(self, refs: I64) -> bool:
        if refs.shape[0] < 2:
            return True
        if refs.shape[0] < 64:
            return bool(len(set(refs.tolist())) == refs.shape[0])
        mark = np.zeros(self._cap, dtype=np.int32)
        pos = np.arange(1, refs.shape[0] + 1, dtype=np.int32)
        mark[refs] = pos
        return bool((mark[refs] == pos).all())

    def _round(self, refs: I64, t: I64 | int, vs: F64, stats: AppendStats) -> None:
        """Append at most one sample per series (``refs`` unique)."""
        lt = self.last_t[refs]
        bits = vs.view(np.uint64)
        scalar = isinstance(t, int)
        if scalar and t > self.min_valid_t and bool((lt < t).all()):
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
            self._write(refs[sel], tt[sel], vs[sel], bits[sel])
            stats.appended += sel.shape[0]

    def _write(self, r: I64, t: I64 | int, vs: F64, bits: U64) -> None:
        pos = self.open_n[r]
        self.open_t[r, pos] = t
        self.open_v[r, pos] = vs
        pos += 1
        self.open_n[r] = pos
        self.last_t[r] = t
        self.last_bits[r] = bits
        self.first_t[r] = np.minimum(self.first_t[r], t)
        if isinstance(t, int):
            self.mint = min(self.mint, t)
            self.maxt = max(self.maxt, t)
        else:
            self.mint = min(self.mint, int(t.min()))
            self.maxt = max(self.maxt, int(t.max()))
        full = r[pos == self.S]
        if full.size:
            self.close_rows(full)

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
        buf = self.ooo.get(ref)
        if buf is not None and t in buf:
            return buf[t]
        n = int(self.open_n[ref])
        if n and int(self.open_t[ref, 0]) <= t:
            hit = np.nonzero(self.open_t[ref, :n] == t)[0]
            return float(self.open_v[ref, hit[0]]) if hit.size else None
        q = np.array([ref], dtype=np.int64)
        for f in self.fragments(q, t, t):
            hit = np.nonzero(f.ts == t)[0]
            if hit.size:
                return float(f.vs[hit[0]])
        return None

    def close_rows(self, refs: I64) -> None:
        """Compress the open chunks of ``refs`` into pages and empty them."""
        refs = np.sort(refs)
        n = self.open_n[refs].astype(np.int64)
        keep = n > 0
        if not keep.all():
            refs, n = refs[keep], n[keep]
        if not refs.size:
            return
        if (n == n[0]).all():
            c = int(n[0])
            ts = self.open_t[refs, :c].ravel()
            vs = self.open_v[refs, :c].ravel()
        else:
            mask = np.arange(self.S)[None, :] < n[:, None]
            ts = self.open_t[refs][mask]
            vs = self.open_v[refs][mask]
        rows = self.options.page_rows
        starts = row_starts(n.astype(np.int32))
        level = self.options.head_zstd_level
        for lo in range(0, refs.shape[0], rows):
            hi = min(lo + rows, refs.shape[0])
            a = int(starts[lo])
            b = int(starts[hi]) if hi < refs.shape[0] else ts.shape[0]
            self.pages.append(Page(refs[lo:hi], n[lo:hi], ts[a:b], vs[a:b], level))
        self.open_n[refs] = 0

    def flush(self) -> None:
        """Close every open chunk (before a cut or a checkpoint)."""
        refs = np.nonzero(self.open_n[: self.num_series])[0].astype(np.int64)
        if refs.size:
            self.close_rows(refs)

    # --- reading --------------------------------------------------------------------------

    def fragments(self, q: I64, mint: int, maxt: int) -> list[Fragment]:
        """Samples of the series ``q`` (sorted refs) overlapping [mint, maxt], in time order.

        Fragments may hold samples just outside the range; ``merge.assemble`` trims them.
        """
        out: list[Fragment] = []
        if not q.size:
            return out
        qlo, qhi = int(q[0]), int(q[-1])
        for p in self.pages:
            if p.maxt < mint or p.mint > maxt:
                continue
            if isinstance(p._refs, int):
                if p.ref_lo > qhi or p.ref_lo + p._refs <= qlo:
                    continue
                lo = int(np.searchsorted(q, p.ref_lo))
                hi = int(np.searchsorted(q, p.ref_lo + p._refs))
                if lo == hi:
                    continue
                qidx = np.arange(lo, hi, dtype=np.int64)
                rows = q[lo:hi] - p.ref_lo
            else:
                prefs = p._refs
                if int(prefs[0]) > qhi or int(prefs[-1]) < qlo:
                    continue
                pos = np.searchsorted(prefs, q)
                pos_c = np.minimum(pos, prefs.shape[0] - 1)
                hit = prefs[pos_c] == q
                if not hit.any():
                    continue
                qidx = np.nonzero(hit)[0].astype(np.int64)
                rows = pos_c[hit].astype(np.int64)
            counts, ts, vs = p.decode()
            idx, c = gather_rows(row_starts(counts.astype(np.int32)), counts, rows)
            out.append(Fragment(qidx, c, ts[idx], vs[idx]))
        n = self.open_n[q].astype(np.int64)
        has = np.nonzero(n)[0]
        if has.size:
            rows_t = self.open_t[q[has]]
            rows_v = self.open_v[q[has]]
            c = n[has]
            mask = np.arange(self.S)[None, :] < c[:, None]
            out.append(Fragment(has.astype(np.int64), c, rows_t[mask], rows_v[mask]))
        if self.ooo:
            qi: list[int] = []
            cs: list[int] = []
            tss: list[int] = []
            vss: list[float] = []
            for i, r in enumerate(q.tolist()):
                buf = self.ooo.get(r)
                if buf:
                    items = sorted(buf.items())
                    qi.append(i)
                    cs.append(len(items))
                    tss.extend(t for t, _ in items)
                    vss.extend(v for _, v in items)
            if qi:
                out.append(
                    Fragment(
                        np.array(qi, dtype=np.int64),
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
        return sum(p.nsamples for p in self.pages) + int(self.open_n.sum()) + sum(
            len(b) for b in self.ooo.values()
        )

    def chunk_bytes(self) -> int:
        return sum(len(p.blob) for p in self.pages)

    # --- truncation -----------------------------------------------------------------------

    def truncate(self, before: int) -> None:
        """Drop every sample older than ``before`` and refuse such samples from now on."""
        self.min_valid_t = max(self.min_valid_t, before)
        kept: list[Page] = []
        level = self.options.head_zstd_level
        for p in self.pages:
            if p.maxt < before:
                continue
            if p.mint >= before:
                kept.append(p)
                continue
            counts, ts, vs = p.decode()
            refs = p.refs()
            keep = ts >= before
            sid = np.repeat(np.arange(refs.shape[0]), counts)[keep]
            nc = np.bincount(sid, minlength=refs.shape[0])
            rows = nc > 0
            if rows.any():
                kept.append(Page(refs[rows], nc[rows], ts[keep], vs[keep], level))
        self.pages = kept
        n = self.num_series
        old_rows = np.nonzero((self.open_n[:n] > 0) & (self.open_t[:n, 0] < before))[0]
        for r in old_rows.tolist():
            c = int(self.open_n[r])
            keep_idx = np.nonzero(self.open_t[r, :c] >= before)[0]
            k = keep_idx.shape[0]
            self.open_t[r, :k] = self.open_t[r, keep_idx]
            self.open_v[r, :k] = self.open_v[r, keep_idx]
            self.open_n[r] = k
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
        for p in self.pages:
            refs = p.refs()
            counts = p.counts()
            # Row minimum = its first timestamp; pages are in time order per series, so
            # only series not seen yet take this page's value.
            cur = first[refs]
            unseen = cur == INT64_MAX
            if unseen.any():
                counts32 = counts.astype(np.int32)
                starts = row_starts(counts32)
                _, ts, _ = p.decode()
                cur[unseen] = ts[starts[unseen]]
                first[refs] = cur
        has = self.open_n[:n] > 0
        first[has] = np.minimum(first[has], self.open_t[:n][has, 0])
        for r, buf in self.ooo.items():
            first[r] = min(int(first[r]), min(buf))
        self.first_t[:n] = first
        self.mint = int(first.min()) if n else INT64_MAX
        if self.mint == INT64_MAX:
            self.maxt = INT64_MIN

    # --- the querier's view (``querier.SeriesSource``) -------------------------------------

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        ids = self.index.postings_for(matchers) if matchers else self.index.all_ids()
        if ids.size:
            ids = ids[self.refs_in_range(mint, maxt)[ids]]
        return ids

    def labels_of(self, ids: I64) -> list[Labels]:
        lbs = self.index.labels
        return [lbs[i] for i in ids.tolist()]

    def label_names(self, ids: I64 | None) -> set[str]:
        return self.index.label_names(ids)

    def label_values(self, name: str, ids: I64 | None) -> set[str]:
        return self.index.label_values(name, ids)

    # --- restoring from a checkpoint ------------------------------------------------------

    def load_page(self, refs: I64, blob: bytes) -> None:
        """Adopt a page written by a checkpoint (its series exist already)."""
        p = Page.from_blob(refs, blob)
        counts, ts, vs = p.decode()
        starts = row_starts(counts.astype(np.int32))
        ends = starts + counts - 1
        last = ts[ends]
        newer = last > self.last_t[refs]
        self.last_t[refs[newer]] = last[newer]
        self.last_bits[refs[newer]] = vs[ends][newer].view(np.uint64)
        self.first_t[refs] = np.minimum(self.first_t[refs], ts[starts])
        self.mint = min(self.mint, p.mint)
        self.maxt = max(self.maxt, p.maxt)
        self.pages.append(p)

    def load_ooo(self, refs: I64, ts: I64, vs: F64) -> None:
        for r, t, v in zip(refs.tolist(), ts.tolist(), vs.tolist(), strict=True):
            self.ooo.setdefault(r, {})[t] = v
            if t < self.first_t[r]:
                self.first_t[r] = t
            self.mint = min(self.mint, t)

    def open_samples(self) -> tuple[I64, I64, F64]:
        """Every open-chunk sample as flat (refs, ts, vs), for checkpoints."""
        n = self.num_series
        cnt = self.open_n[:n].astype(np.int64)
        has = np.nonzero(cnt)[0]
        mask = np.arange(self.S)[None, :] < cnt[has][:, None]
        refs = np.repeat(has, cnt[has]).astype(np.int64)
        return refs, self.open_t[has][mask], self.open_v[has][mask]

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
