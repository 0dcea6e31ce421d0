"""Compressing the head: a window whose time has passed becomes a span of label-ordered frames,
and spans of a longer aligned range are merged into one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from guardia.storage.tsdb.chunks import (
    FRAME_MAX_ROWS,
    ChunkCorruptError,
    decode_pages_rows,
    page_counts,
    row_starts,
)
from guardia.storage.tsdb.head_layout import (
    _FRAMES_PER_BATCH,
    _REOPENED_PATIENCE,
    F64,
    I32,
    I64,
    INT64_MAX,
    INT64_MIN,
    Page,
    Span,
    Window,
    release_free_memory,
)
from guardia.storage.tsdb.head_read import HeadRead
from guardia.storage.tsdb.merge import Fragment, assemble, gather_rows

# Span widths, in windows, that compressed windows are merged into: a 40-minute span once
# its range is complete, and meanwhile the first 20 minutes of it, so a query over the
# newest range visits at most 5 spans instead of up to 9 (costing a third compression of
# half the samples; the 40-minute merge then decodes one span instead of five).
SPAN_FACTORS = (10, 5)

# Rows per zstd frame in a compressed window's pages (``chunks.FRAME_MAX_ROWS`` = 64 in
# merged spans).  A window's rows are short (16 samples at a 15 s scrape), so 64 of them
# make a small frame, yet a query that wants a row or two of it (one instance of a big
# job, a rule over the last minutes) inflates all 64: 16 inflate a quarter as much for
# 19% larger window pages (a few windows at a time: they are merged into longer spans
# within 40 minutes) and about a fifth more CPU to compress a window.  Measured on
# benchmarks/tsdb_select's head, alternating in one process at load average 5-8: one
# instance of a 10,000-series job over 2 h 4.6-5.4 ms with 64 rows, 4.0-4.9 ms with 16.
WINDOW_FRAME_ROWS = 16


class HeadCompress(HeadRead):
    """Window compression and span merging."""

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

        A window is compressed ``grace`` (half a window) after its end, or sooner: once the
        head's newest time is ``quiet`` (an eighth of a window, 30 s for 4-minute windows) past
        both its end and the last sample written into it.  Scrapes whose samples belong to
        a window append them within their timeout of its end, so a quiet window is done,
        and its buffer (10 bytes × ``chunk_slots`` per series, 15 MiB at 100,000 series) is
        not kept beside the next one's for the rest of the grace.  A sample that still
        comes later reopens the window as any late sample does: nothing is lost.
        """
        end = (wid + 1) * self.W + self.grace
        if end > self.maxt:
            w = self.windows.get(wid)
            quiet_since = max((wid + 1) * self.W, INT64_MIN if w is None else w.touched) + self.quiet
            if w is None or quiet_since > self.maxt:
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

    def finalize_all(self) -> None:
        for wid in sorted(self.windows):
            self.finalize(wid)

    def _compress_window(self, w: Window) -> None:
        n = self.num_series
        present = w.n[:n] > 0
        spill_refs = [p.refs() for p in w.spills]
        for pr in spill_refs:
            present[pr] = True
        refs = np.nonzero(present)[0].astype(np.int64)
        if not refs.size:
            return
        # Spill pages are read back a label batch at a time (only the frames holding the
        # batch's rows), never all at once: at 100,000 series × 48 samples the whole
        # window decoded is 77 MB, which stayed in the allocator's heap or at least in the
        # process's peak resident memory.  Where the rows go is planned from the pages'
        # row counts, which inflate no frame.
        spills = _SpillRows(w.spills, spill_refs, n)

        def general(sub: I64) -> tuple[I64, I64, F64]:
            frags = [Fragment(dest, c.astype(np.int64), ts, vs) for _, _, dest, c, ts, vs in spills.read(sub)]
            hs = sub[w.n[sub] > 0]
            if hs.size:
                frags.append(self._buffer_fragment(w, hs, np.searchsorted(sub, hs).astype(np.int64)))
            return assemble(sub.shape[0], frags, INT64_MIN, INT64_MAX)

        grid = _WindowGrid.plan(w, spill_refs, [page_counts(p.blob) for p in w.spills], n)
        if grid is None:
            self._add_span(w.base, w.base + self.W, refs, general, max_rows=WINDOW_FRAME_ROWS)
            return

        def rows_of(sub: I64) -> tuple[I64, I64, F64]:
            out = grid.rows_of(sub, spills)
            return general(sub) if out is None else out

        self._add_span(w.base, w.base + self.W, refs, rows_of, max_rows=WINDOW_FRAME_ROWS)

    def _add_span(
        self, start: int, end: int, refs: I64, rows_of: Callable[[I64], tuple[I64, I64, F64]],
        level: int | None = None, max_rows: int = FRAME_MAX_ROWS,
    ) -> None:
        """Frames for sorted ``refs``; rows without samples are dropped.  A page's zstd
        frames hold at most ``max_rows`` rows (``chunks.encode_page``).

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
            # in a call of its own: a batch's samples are gone before the next one's come
            _batch_frames(sub, in_label, rows_of(sub), frames, frame_of, rows, level, max_rows)
        if frames:
            self.spans.append(
                Span(start, end, frames, frame_of, min(f.mint for f in frames), max(f.maxt for f in frames))
            )

    def merge_spans(self, factors: tuple[int, ...] = SPAN_FACTORS) -> int:
        """Merge the spans of each complete aligned range, for each width of ``factors``
        windows, widest first; returns how many ranges were merged.

        Longer rows compress better (one raw first value per row instead of one per
        window) and a query touches fewer pages: it pays a few microseconds per page it
        visits, and each span holds a page or more of every selected job.  Widest first,
        so a range that is complete at both widths is merged once, at the wider.
        """
        return sum(self._merge_ranges(f) for f in factors)

    def _merge_ranges(self, factor: int) -> int:
        """Merge the spans of each complete aligned ``factor × window`` range into one."""
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


def _batch_frames(
    sub: I64, in_label: I64, got: tuple[I64, I64, F64], frames: list[Page],
    frame_of: npt.NDArray[np.int16] | npt.NDArray[np.int32], rows: int, level: int, max_rows: int,
) -> None:
    """The frames of one batch (``sub``: its refs sorted, ``in_label``: in label order, ``got``:
    their samples) appended to ``frames``, and noted in ``frame_of``."""
    counts, ts, vs = got
    pos = np.searchsorted(sub, in_label)  # label order, as rows of ``sub``
    pos = pos[counts[pos] > 0]
    width = int(counts[0]) if counts.shape[0] else 0
    if width > 0 and bool((counts == width).all()):  # rows of one length: a matrix's rows
        tmat, vmat = ts.reshape(-1, width), vs.reshape(-1, width)
        for f in range(0, pos.shape[0], rows):
            member = np.sort(pos[f : f + rows])  # rows in ascending ref order
            frame_of[sub[member]] = len(frames)
            frames.append(Page(sub[member], counts[member], tmat[member].ravel(),
                               vmat[member].ravel(), level, max_rows))
        return
    starts = row_starts(counts.astype(np.int32))
    for f in range(0, pos.shape[0], rows):
        member = np.sort(pos[f : f + rows])  # rows in ascending ref order
        idx, c = gather_rows(starts, counts, member)
        frame_of[sub[member]] = len(frames)
        frames.append(Page(sub[member], c, ts[idx], vs[idx], level, max_rows))


# One spill page's rows of a batch: the page's index, the rows' numbers in the page and
# places in the batch, their counts, timestamps and values (rows concatenated, in page order).
_PageRows = tuple[int, I64, I64, I32, I64, F64]


class _SpillRows:
    """A window's spill pages, read back a batch of series at a time.

    Spill pages hold rows in ref order and a batch takes series in label order, so every
    batch wants some rows of nearly every page; only the zstd frames holding them are
    inflated.  A frame holding rows of several batches is inflated once for each: the price
    of never holding the whole window decoded.  At 50 targets × 2,000 series (in-process)
    a 64-row frame serves ~3 batches of 8,192 series, and compressing a window costs
    ~0.08 CPU s more (0.38-0.41 → 0.47 s) for a peak of 18 MiB above the RSS before it
    instead of 76.
    """

    __slots__ = ("pages", "refs", "slot")

    def __init__(self, pages: list[Page], refs: list[I64], n: int) -> None:
        self.pages, self.refs = pages, refs
        self.slot = np.full(n, -1, dtype=np.int64)  # ref → its row in the current batch

    def read(self, sub: I64) -> Iterator[_PageRows]:
        """The rows of the sorted refs ``sub`` in each page holding some, in page order.

        Pages are decoded a few at a time (about ``_READ_SAMPLES`` samples stored in them),
        so the frames inflated at once stay a few MiB whatever the window's size.
        """
        slot = self.slot
        slot[sub] = np.arange(sub.shape[0])
        want: list[tuple[int, I64, I64]] = []
        for i, pr in enumerate(self.refs):
            qi = slot[pr]
            rows = np.flatnonzero(qi >= 0)
            if rows.size:
                want.append((i, rows, qi[rows]))
        slot[sub] = -1
        lo = 0
        while lo < len(want):
            hi, budget = lo + 1, self.pages[want[lo][0]].nsamples
            while hi < len(want) and budget + self.pages[want[hi][0]].nsamples <= _READ_SAMPLES:
                budget += self.pages[want[hi][0]].nsamples
                hi += 1
            yield from self._decode(want[lo:hi])
            lo = hi

    def _decode(self, want: list[tuple[int, I64, I64]]) -> Iterator[_PageRows]:
        got = decode_pages_rows(
            [(self.pages[i].blob, None if r.shape[0] == self.refs[i].shape[0] else r) for i, r, _ in want]
        )
        if got.bad:
            raise ChunkCorruptError(got.bad[0][1])
        r0 = s0 = 0
        for i, rows, dest in want:
            k = dest.shape[0]
            counts = got.counts[r0 : r0 + k]
            m = int(counts.sum())
            if got.ts is not None:
                ts = got.ts[s0 : s0 + m]
            else:  # every row of every page read has these very timestamps
                assert got.row is not None
                ts = np.tile(got.row, k)
            yield i, rows, dest, counts, ts, got.vs[s0 : s0 + m]
            r0 += k
            s0 += m

# Samples stored in the spill pages decoded by one call when a window is compressed: four
# of a turn's pages of 4,096 rows × 16 samples (4 MiB of words at most, less as only the
# frames holding a batch's rows are inflated) or eight of a 2,000-series target's full rows.
_READ_SAMPLES = 1 << 18


# A page whose rows fall into more (column, length) groups than this is not worth cutting.
_MAX_GROUPS = 16


def _groups(col: I64, length: npt.NDArray[np.integer]) -> list[tuple[I64, int, int]] | None:
    """Rows cut by (start column, length): (their positions, column, length) per group, or
    None for too many groups.  One group, without a copy, when all rows agree."""
    c0, k0 = int(col[0]), int(length[0])
    if bool((col == c0).all()) and bool((length == k0).all()):
        return [(np.arange(col.shape[0]), c0, k0)]
    key = col * (int(length.max()) + 1) + length
    u, inv = np.unique(key, return_inverse=True)
    if u.shape[0] > _MAX_GROUPS:
        return None
    out: list[tuple[I64, int, int]] = []
    for i in range(u.shape[0]):
        pos = np.flatnonzero(inv == i)
        out.append((pos, int(col[pos[0]]), int(length[pos[0]])))
    return out


class _WindowGrid:
    """A window compressed through one (series × samples) matrix per batch, the batch's rows
    of each spill page copied into it as blocks.

    The usual window: every target scraped at one interval.  A series' spills come in time
    order and its buffered samples after them, so the rows of a spill page sit at one
    column each; the pages made when a target's rows fill are one block, the page made
    when the next window opens (``_vacate_before``: targets one scrape apart) a few.
    Copying blocks into the matrix skips what the general way pays per page and batch (a
    fragment of gathered samples, trimmed, checked and scattered) and per frame (a flat
    gather of its samples).  ``plan`` (from the pages' row counts alone) returns None when
    the window is not such a grid (targets of many intervals cutting pages into many
    pieces), and the general way is taken; ``rows_of`` returns None for a batch whose rows
    are not in time order across pages, which the general way then merges.  Both ways give
    the same bytes (``tests/storage/test_head_window_grid.py``).
    """

    __slots__ = ("buf_group", "buffered", "cuts", "total", "w")

    def __init__(self, w: Window, total: I64, cuts: list[tuple[npt.NDArray[np.int8], list[tuple[int, int]]]],
                 buf_group: npt.NDArray[np.int8], buffered: list[tuple[int, int]]) -> None:
        self.w, self.total, self.cuts = w, total, cuts  # ``total``: samples per ref
        self.buf_group, self.buffered = buf_group, buffered  # ref → group; (column, length)

    @classmethod
    def plan(cls, w: Window, spill_refs: list[I64], counts: list[I32], n: int) -> _WindowGrid | None:
        """Where each page's rows go: per page, each row's group and each group's (column,
        length); per series, its samples in all."""
        cursor = np.zeros(n, dtype=np.int64)  # samples of each series placed so far
        cuts: list[tuple[npt.NDArray[np.int8], list[tuple[int, int]]]] = []
        for pr, c in zip(spill_refs, counts, strict=True):
            groups = _groups(cursor[pr], c)
            if groups is None or any(k <= 0 for _, _, k in groups):
                return None
            group = np.zeros(pr.shape[0], dtype=np.int8)
            for g, (pos, _, _) in enumerate(groups):
                if g:
                    group[pos] = g
            cuts.append((group, [(c0, k) for _, c0, k in groups]))
            cursor[pr] += c
        has = np.flatnonzero(w.n[:n])
        buf_group = np.full(n, -1, dtype=np.int8)
        buffered: list[tuple[int, int]] = []
        if has.size:
            bgroups = _groups(cursor[has], w.n[has])
            if bgroups is None:
                return None
            for g, (pos, c0, k) in enumerate(bgroups):
                buf_group[has[pos]] = g
                buffered.append((c0, k))
                cursor[has[pos]] = c0 + k
        return cls(w, cursor, cuts, buf_group, buffered)

    def rows_of(self, sub: I64, spills: _SpillRows) -> tuple[I64, I64, F64] | None:
        """(counts, ts, vs) of the sorted refs ``sub``: rows of a matrix as wide as the longest,
        the shorter ones (series that came or went in the window) cut out of it at the end;
        None when a row's samples are not in time order."""
        m, w = sub.shape[0], self.w
        counts = self.total[sub]
        width = int(counts.max())
        tmat = np.empty((m, width), dtype=np.int64)
        vmat = np.empty((m, width), dtype=np.float64)
        for i, rows, dest, c, ts, vs in spills.read(sub):
            group, spans = self.cuts[i]
            if len(spans) == 1:
                c0, k = spans[0]
                tmat[dest, c0 : c0 + k] = ts.reshape(-1, k)
                vmat[dest, c0 : c0 + k] = vs.reshape(-1, k)
                continue
            starts = row_starts(c)
            g = group[rows]
            for j, (c0, k) in enumerate(spans):
                at = np.flatnonzero(g == j)
                if at.size:
                    idx = starts[at][:, None] + np.arange(k)
                    tmat[dest[at], c0 : c0 + k] = ts[idx]
                    vmat[dest[at], c0 : c0 + k] = vs[idx]
        hs = np.flatnonzero(w.n[sub])
        if hs.size:  # buffered samples: after the spilled ones, a block per (column, length)
            bg = self.buf_group[sub[hs]]
            for j, (c0, k) in enumerate(self.buffered):
                at = hs if len(self.buffered) == 1 else hs[bg == j]
                r = sub[at]
                tmat[at, c0 : c0 + k] = w.offsets((r, slice(0, k))).astype(np.int64) + w.base
                vmat[at, c0 : c0 + k] = w.vs[r, :k]
        full = bool((counts == width).all())
        if width > 1:
            later = tmat[:, 1:] > tmat[:, :-1]
            if not full:
                later |= np.arange(1, width)[None, :] >= counts[:, None]
            if not bool(later.all()):
                return None
        if full:
            return counts, tmat.ravel(), vmat.ravel()
        mask = np.arange(width)[None, :] < counts[:, None]
        return counts, tmat[mask], vmat[mask]
