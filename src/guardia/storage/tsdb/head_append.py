"""Appending to the head: order, duplicate and bounds checks, and writes into window buffers,
many refs at once; out-of-order samples within the window go to a side buffer."""

from __future__ import annotations

import numpy as np

from guardia.storage.interface import AppendStats
from guardia.storage.tsdb.head_compress import HeadCompress
from guardia.storage.tsdb.head_layout import (
    F64,
    I64,
    U64,
    Page,
    Window,
    release_free_memory,
    release_pages,
)

# Rows per page when a whole window is spilled at once (``_vacate_before``).  In one page
# of 100,000 rows its temporaries (12.8 MB per sample array) are past numpy's 4 MiB
# threshold for asking the kernel for huge pages, and faulting those in (zeroing 2 MiB
# pages, compacting memory for them) cost 0.2-0.3 s of system CPU at every window turn
# in benchmarks/scrape_e2e's load, against 0.06 s for the same spill in pages of 16,384
# rows (2 MiB per array at 16 slots).  Pages of 4,096 rows (0.5 MiB per array) keep the
# turn's transient small too: in that load (in-process, 99,700 series) the peak RSS of the
# spill is 5 MiB above what came before instead of 19, for a little less CPU (0.065
# against 0.08 s); the window's frames are made from its samples, not its pages, so they
# are the same bytes.
_SPILL_ROWS = 4_096

# Writes of a run of consecutive refs go through slices (``_write``); False only in tests,
# which compare both ways.
_RUNS = True


def _run(refs: I64) -> slice | None:
    """``refs`` as a slice when they are consecutive and ascending (a target's scrape: its
    series were created in body order, its report series right after), else None."""
    n = refs.shape[0]
    if not _RUNS or n < 2:
        return None
    r0 = int(refs[0])
    if int(refs[-1]) - r0 != n - 1 or not bool((refs[1:] > refs[:-1]).all()):
        return None
    return slice(r0, r0 + n)


class HeadAppend(HeadCompress):
    """The append path (one scrape is a handful of numpy writes)."""

    def append(self, refs: I64, ts: I64 | int, vs: F64, stats: AppendStats) -> None:
        """Append samples (any order, any refs); rejected ones are counted in ``stats``."""
        n = refs.shape[0]
        if n == 0:
            return
        if isinstance(ts, int):
            run = _run(refs)
            if run is not None or self._unique(refs):
                self._round(refs, ts, vs, stats, run)
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
        if bool((refs[1:] > refs[:-1]).all()):
            return True  # ascending (a target's scrape: its refs were made in body order)
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

    def _round(self, refs: I64, t: I64 | int, vs: F64, stats: AppendStats, run: slice | None = None) -> None:
        """Append at most one sample per series (``refs`` unique; ``run`` their slice when they
        are consecutive)."""
        lt = self.last_t[refs if run is None else run]
        bits = vs.view(np.uint64)
        if isinstance(t, int) and t >= self.min_valid_t and bool((lt < t).all()):
            self._write(refs, t, vs, bits, run)
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
                # Prometheus's rule: the window counts back from the newest sample of the
                # whole head, not of the series (a series scraped late is not favoured)
                in_window = older & (tt >= self.newest() - self.ooo_window)
                stats.too_old += int((older & ~in_window).sum())
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
            self._vacate_before(wid)
            w = Window.coded(wid, wid * self.W, self._cap, self.S)
            self.windows[wid] = w
        return w

    def _write(self, r: I64, t: I64 | int, vs: F64, bits: U64, run: slice | None = None) -> None:
        """In-order samples of one window (``r`` unique; ``run`` as in ``_round``)."""
        t_first = t if isinstance(t, int) else int(t[0])
        w = self._window(t_first // self.W)
        # A target's scrape is usually one run of consecutive refs (its series were created
        # in body order, its report series right after): then every per-ref array is written
        # through a slice, and when all its rows are at one slot, so are the window buffers.
        if run is None:
            run = _run(r)
        key: I64 | slice = r if run is None else run
        pos = w.n[key].copy()  # a copy: ``w.n`` changes below, ``pos`` must not
        lo, hi = int(pos.min()), int(pos.max())
        if hi >= self.S:
            self._spill(w, r[pos >= self.S])
            pos = w.n[key].copy()
            lo, hi = int(pos.min()), int(pos.max())
        code = w.encode(t - w.base)  # before the store: it may turn ``w.ts`` into offsets
        if isinstance(key, slice) and lo == hi:
            w.ts[key, lo] = code
            w.vs[key, lo] = vs
            w.n[key] = lo + 1
        else:
            flat = r * self.S + pos  # 1-D stores: about three times cheaper than 2-D fancy ones
            w.ts.reshape(-1)[flat] = code
            w.vs.reshape(-1)[flat] = vs
            w.n[key] = pos + 1
        self.last_t[key] = t
        self.last_bits[key] = bits
        if lo == 0:
            first = pos == 0
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
        w.touched = self.maxt

    def _vacate_before(self, wid: int) -> None:
        """Before window ``wid``'s buffer is made, spill every row of the earlier windows still
        open into a compressed page and give their buffers' pages back.

        The previous window stays open for late samples until it is quiet (see ``_due``),
        but its samples need not stay uncompressed meanwhile: without this its buffer (15 MiB
        at 100,000 series) would be resident beside the new one's for that time.  A late
        sample still lands in the buffer, touching only its own row's pages; the window's
        frames are made from the spill pages and those rows when it is compressed.
        """
        for old in self.windows.values():
            if old.wid >= wid:
                continue
            refs = np.flatnonzero(old.n[: self.num_series]).astype(np.int64)
            for lo in range(0, refs.shape[0], _SPILL_ROWS):
                self._spill(old, refs[lo : lo + _SPILL_ROWS])
            release_pages(old.ts)
            release_pages(old.vs)
            release_free_memory()  # the spill's temporaries, as after a window's compression

    def _spill(self, w: Window, refs: I64) -> None:
        """Compress full rows of a window into a page and empty them."""
        refs = np.sort(refs)
        run = _run(refs)
        key: I64 | slice = refs if run is None else run  # consecutive refs: their rows are one block
        n = w.n[key].astype(np.int64)
        if isinstance(key, slice) and bool((n == self.S).all()):
            # every row full (a target's scrape filled them together): the block itself, row by row
            ts = w.offsets(key).reshape(-1).astype(np.int64) + w.base
            vs = w.vs[key].reshape(-1)
        else:
            mask = np.arange(self.S)[None, :] < n[:, None]
            ts = w.offsets(key)[mask].astype(np.int64) + w.base
            vs = w.vs[key][mask]
        w.spills.append(Page(refs, n, ts, vs, self.options.head_zstd_level))
        w.n[key] = 0

    def newest(self) -> int:
        """The newest time the head has seen: its newest sample, or just below its lower
        bound when it is empty (after a restart with blocks and no WAL, after a cut)."""
        return max(self.maxt, self.min_valid_t - 1)

    def _append_ooo(self, refs: I64, ts: I64, vs: F64, stats: AppendStats) -> None:
        """Out-of-order samples within the window into the side buffer; a timestamp the head
        holds already keeps its sample (the first stored wins; another value is a duplicate)."""
        mvt = self.min_valid_t
        for r, t, v in zip(refs.tolist(), ts.tolist(), vs.tolist(), strict=True):
            buf = self.ooo.get(r)
            # below the head's in-order range only the side buffer can hold this time
            existing = (None if buf is None else buf.get(t)) if t < mvt else self._sample_at(r, t)
            if existing is not None:
                if np.float64(existing).view(np.uint64) != np.float64(v).view(np.uint64):
                    stats.duplicate += 1
                continue
            if buf is None:
                buf = self.ooo[r] = {}
            buf[t] = v
            stats.appended += 1
            stats.ooo_appended += 1
            if t < self.first_t[r]:
                self.first_t[r] = t
            self.mint = min(self.mint, t)

    def append_late(self, refs: I64, ts: I64, vs: F64, stats: AppendStats) -> None:
        """Samples older than the head's lower bound (``min_valid_t``: their time range is in
        blocks already) that the database accepted within the out-of-order window.  They wait in
        the side buffer, queryable, until ``maintain`` writes them into blocks of their own
        that overlap the older ones (vertical compaction merges them).  Replay calls this for
        ``REC_OOO_LATE`` records without the window check: the commit decided."""
        if refs.size:
            self._append_ooo(refs, ts, vs, stats)

    def late_samples(self) -> int:
        """How many out-of-order samples wait below ``min_valid_t`` (see ``append_late``)."""
        mvt = self.min_valid_t
        return sum(1 for buf in self.ooo.values() for t in buf if t < mvt)
