"""Read view over head and blocks: one series per label set, samples merged in order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.model.histcols import HistCols, Layout
from guardia.storage.interface import Querier, SelectHints, SeriesSet, check_selectable, hinted_range
from guardia.storage.tsdb.block import Block
from guardia.storage.tsdb.compact import block_order
from guardia.storage.tsdb.histblock import BlockColumns
from guardia.storage.tsdb.histograms import HeadColumns, HistogramStore, merge_into, unknown_hints
from guardia.storage.tsdb.histpages import LayoutKey, Run
from guardia.storage.tsdb.merge import Fragment, assemble, trim
from guardia.storage.tsdb.source import IndexedSource, SeriesSource, SourceCatalog

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TSDBQuerier(Querier):
    """Reads ``[mint, maxt]`` for one query.

    The blocks are fixed (and acquired) when the querier is made, so a query reads the
    same data from start to end even if compaction or retention replaces them meanwhile.
    The head is read live; if it is cut into a block while the querier is open, the new
    block is added, so what moved out of the head is not lost to the query.
    """

    def __init__(self, catalog: SourceCatalog, mint: int, maxt: int) -> None:
        self.mint = mint
        self.maxt = maxt
        self._catalog = catalog
        self._lock = catalog.read_lock
        with self._lock:
            self._cuts = catalog.head_cuts()
            self._sources = catalog.acquire_sources(mint, maxt, ())

    def _current(self) -> list[SeriesSource]:
        """The sources to read now (call with the lock held)."""
        cuts = self._catalog.head_cuts()
        if cuts != self._cuts:
            held = [s for s in self._sources if isinstance(s, Block)]
            covered = {u for b in held for u in b.sources}
            fresh = self._catalog.acquire_sources(self.mint, self.maxt, covered)
            blocks = sorted([*held, *(s for s in fresh if isinstance(s, Block))], key=block_order)
            self._sources = [*blocks, *(s for s in fresh if not isinstance(s, Block))]
            self._cuts = cuts
        return self._sources

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *, sort: bool = False
    ) -> SeriesSet:
        check_selectable(matchers)
        mint, maxt = hinted_range(self, hints)
        if hints is not None and hints.labels_only:
            names = self._labels(matchers, mint, maxt)
            hist_names = self._histogram_series(matchers, mint, maxt)  # no page decoded
            if hist_names:
                names = sorted({*names, *hist_names})
            found = SeriesSet.labels_only(names)
        else:
            hparts = self._histogram_parts(matchers, mint, maxt)
            with self._lock:
                labels, counts, ts, vs = self._assemble(matchers, mint, maxt)
            if not labels and len(hparts) == 1 and isinstance(hparts[0], BlockColumns):
                alone = _block_columns_alone(hparts[0])  # histograms of one block only
                if alone is not None:
                    return alone.in_label_order() if sort else alone
            extra = _merge_parts(hparts)
            starts = np.zeros(len(labels) + 1, dtype=np.int64)
            if labels:
                np.cumsum(counts, out=starts[1:])
                if not bool(counts.all()):  # series without samples in range are left out
                    nz = np.nonzero(counts)[0]
                    labels = [labels[i] for i in nz.tolist()]
                    starts = np.concatenate(([0], starts[1:][nz]))
            found = SeriesSet(labels, ts, vs, starts)
            if extra:
                # native histogram samples merged in (a rare, per-series path)
                found = merge_into(labels, ts, vs, starts, extra)
        return found.in_label_order() if sort else found

    def _histograms(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> dict[Labels, HeadColumns]:
        """Native histogram samples of the matching series, as columns: the blocks' (in
        ``block_order``), then the head's; read under the lock, so a head cut cannot move
        samples from one to the other between the two reads.  Where two hold a timestamp
        the earlier wins (``histblock.merge_columns``)."""
        return _merge_parts(self._histogram_parts(matchers, mint, maxt))

    def _histogram_parts(self, matchers: Sequence[Matcher], mint: int,
                         maxt: int) -> list[BlockColumns | dict[Labels, HeadColumns]]:
        """The sources' histogram samples, each source's apart: the blocks' (in
        ``block_order``, flat columns straight from their pages), then the head's."""
        hs: HistogramStore | None = getattr(self._catalog, "histograms", None)
        parts: list[BlockColumns | dict[Labels, HeadColumns]] = []
        with self._lock:
            for src in self._current():
                if isinstance(src, Block) and src.histograms is not None and src.maxt >= mint \
                        and src.mint <= maxt:
                    got = src.histograms.select_columns(matchers, mint, maxt)
                    if len(got):
                        parts.append(got)
            if hs is not None and not hs.empty:
                head = hs.select(matchers, mint, maxt)
                if head:
                    parts.append(head)
        return parts

    def _assemble(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> tuple[list[Labels], I64, I64, F64]:
        """Label sets of the matching series and their samples, flat (series after series)."""
        found = [(src, src.select_ids(matchers, mint, maxt)) for src in self._current()]
        hits = [(src, ids) for src, ids in found if ids.size]
        labels: list[Labels] = []
        frags: list[Fragment] = []
        if len(hits) == 1:
            # One source (a query inside the head or inside one block): its series are
            # the query's, in its order; no label-set dictionary needed.
            src, ids = hits[0]
            labels = src.labels_of(ids)
            frags = src.fragments(ids, mint, maxt)
        elif hits:
            indexed = all(isinstance(src, IndexedSource) for src, _ in hits)
            merge = _merge_indexed if indexed else _merge_by_dict
            labels, remaps = merge(hits)  # type: ignore[arg-type]
            for (src, ids), remap in zip(hits, remaps, strict=True):
                for f in src.fragments(ids, mint, maxt):
                    f.qidx = remap[f.qidx]
                    frags.append(f)
        if not labels:
            return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        counts, ts, vs = assemble(len(labels), frags, mint, maxt)
        return labels, counts, ts, vs

    def select_pieces(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None
    ) -> tuple[list[Labels], Iterator[Fragment]] | None:
        """A select's series, and their samples as the blocks hold them, block after block:
        for a reader that reduces samples as they come (a report over a week of 100,000
        series) instead of assembling them into one array first.

        Fragments come in time order for every series and never overlap, so a reader sees
        each series' samples in order; ``qidx`` indexes the series list.  None when that
        cannot be promised (samples in the head, whose pages and out-of-order buffers may
        overlap): ``select`` sorts those out.  Blocks whose ranges overlap (a backfill
        written a day at a time shares a 2-hour range between two blocks) are read in
        order of their start, and each fragment is checked to start after what came
        before it for every series: if one does not, iterating raises ``PiecesOverlap``
        and the reader falls back to ``select``.
        """
        check_selectable(matchers)
        mint, maxt = hinted_range(self, hints)
        with self._lock:
            found = [(src, src.select_ids(matchers, mint, maxt)) for src in self._current()]
            hits = [(src, ids) for src, ids in found if ids.size]
            if not all(isinstance(src, Block) for src, _ in hits):
                return None
            blocks = sorted(hits, key=lambda h: h[0].mint)
            overlap = any(b[0].mint <= a[0].maxt for a, b in itertools.pairwise(blocks))
            if not blocks:
                return [], iter(())
            if len(blocks) == 1:
                labels, remaps = blocks[0][0].labels_of(blocks[0][1]), [np.arange(blocks[0][1].shape[0])]
            else:
                labels, remaps = _merge_indexed(blocks)  # type: ignore[arg-type]

        def pieces() -> Iterator[Fragment]:
            latest = np.full(len(labels), np.iinfo(np.int64).min, dtype=np.int64) if overlap else None
            for (src, ids), remap in zip(blocks, remaps, strict=True):
                with self._lock:
                    frags = src.fragments(ids, mint, maxt)
                for f in frags:
                    g = trim(f, mint, maxt)
                    if not g.counts.shape[0]:
                        continue
                    g.qidx = remap[g.qidx]
                    if latest is not None:
                        _check_order(g, latest)
                    yield g

        return labels, pieces()

    def _labels(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        seen: dict[Labels, None] = {}
        with self._lock:
            for src in self._current():
                ids = src.select_ids(matchers, mint, maxt)
                if ids.size:
                    seen.update(dict.fromkeys(src.labels_of(ids)))
        return list(seen)

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        with self._lock:
            for src in self._current():
                ids = src.select_ids(matchers, self.mint, self.maxt)
                names |= src.label_names(ids)
        for ls in self._histogram_series(matchers):
            names.update(n for n, _ in ls)
        return sorted(names)

    def _histogram_series(self, matchers: Sequence[Matcher], mint: int | None = None,
                          maxt: int | None = None) -> list[Labels]:
        """Series with native histogram samples in range (they may have no float samples): in
        the head, those with samples in range; in blocks, every series of a block that overlaps
        the range (as for floats, read off the index without decoding a page)."""
        mint = self.mint if mint is None else mint
        maxt = self.maxt if maxt is None else maxt
        hs: HistogramStore | None = getattr(self._catalog, "histograms", None)
        out: dict[Labels, None] = {}
        with self._lock:
            for src in self._current():
                if isinstance(src, Block) and src.histograms is not None and src.maxt >= mint \
                        and src.mint <= maxt:
                    out.update(dict.fromkeys(src.histograms.labels(matchers)))
            if hs is not None and not hs.empty:
                out.update(dict.fromkeys(hs.label_sets(matchers, mint, maxt)))
        return list(out)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values: set[str] = set()
        with self._lock:
            for src in self._current():
                ids = src.select_ids(matchers, self.mint, self.maxt)
                values |= src.label_values(name, ids)
        values.update(ls.get(name) for ls in self._histogram_series(matchers))
        values.discard("")
        return sorted(values)

    def close(self) -> None:
        """Release the blocks: one compacted or deleted meanwhile is closed now."""
        sources, self._sources = getattr(self, "_sources", []), []
        for src in sources:
            if isinstance(src, Block):
                src.release()

    def __del__(self) -> None:
        # A querier dropped without close() must not keep deleted blocks open for good.
        self.close()


class PiecesOverlap(RuntimeError):
    """Blocks whose samples overlap in time: ``select_pieces`` cannot hand them over in
    order (``select`` merges them)."""


def _check_order(f: Fragment, latest: I64) -> None:
    """Raise unless every row of ``f`` starts after its series' latest sample so far."""
    if f.row is not None:
        first = np.full(f.qidx.shape[0], int(f.row[0]), dtype=np.int64)
        last = np.full(f.qidx.shape[0], int(f.row[-1]), dtype=np.int64)
    else:
        starts = np.zeros(f.counts.shape[0], dtype=np.int64)
        np.cumsum(f.counts[:-1], out=starts[1:])
        first, last = f.ts[starts], f.ts[starts + f.counts - 1]
    if bool((first <= latest[f.qidx]).any()):
        raise PiecesOverlap("blocks overlap in time for some series")
    latest[f.qidx] = last


# One random 64-bit number per distinct label pair of a query: a label set's key is the
# (wrapping) sum over its pairs.  Equal keys are then confirmed pair by pair, so a collision
# costs the slow path, never a wrong answer.
_rng = np.random.default_rng(0x9E3779B97F4A7C15)


def _merge_indexed(hits: list[tuple[IndexedSource, I64]]) -> tuple[list[Labels], list[I64]]:
    """The distinct label sets of several sources' series, in order of first appearance, and
    for each source the position of each of its series among them.

    A query over a week of 2-hour blocks finds the same series in every block: building a
    label set per series per block and looking each up in a dictionary costs more than
    decoding the samples.  Here each series is its pairs' global numbers (one dictionary
    lookup per distinct pair of a block, not per series), keyed by a sum of random words,
    grouped with one ``np.unique``; label sets are built once per distinct series.
    """
    gid: dict[tuple[str, str], int] = {}
    rows: list[tuple[I64, I64]] = []  # per distinct source content: label counts, pair numbers
    same_as: list[int] = []  # per source: its entry in ``rows``
    prev: tuple[object, I64] | None = None
    for src, ids in hits:
        if prev is not None and src.index is prev[0] and np.array_equal(ids, prev[1]):
            same_as.append(len(rows) - 1)  # blocks sharing an index: the same series
            continue
        prev = (src.index, ids)
        lens, flat, pair_of = src.index.pair_rows(ids)
        used = np.unique(flat)
        gmap = np.zeros(len(pair_of), dtype=np.int64)
        gmap[used] = [gid.setdefault(pair_of[p], len(gid)) for p in used.tolist()]
        g = gmap[flat]
        if rows and np.array_equal(rows[-1][0], lens) and np.array_equal(rows[-1][1], g):
            # the very series of the source before, in the same order (a stable fleet's
            # blocks): the same positions, nothing to match
            same_as.append(len(rows) - 1)
            continue
        same_as.append(len(rows))
        rows.append((lens, g))
    if len(rows) < len(hits):
        firsts = [same_as.index(k) for k in range(len(rows))]
        labels, remaps = _merge_indexed_rows([hits[i] for i in firsts], rows, len(gid))
        return labels, [remaps[k] for k in same_as]
    return _merge_indexed_rows(hits, rows, len(gid))


def _merge_indexed_rows(
    hits: list[tuple[IndexedSource, I64]], rows: list[tuple[I64, I64]], n_pairs: int
) -> tuple[list[Labels], list[I64]]:
    lens_all = np.concatenate([r[0] for r in rows])
    flat_all = np.concatenate([r[1] for r in rows])
    if not lens_all.size or not bool((lens_all > 0).all()):
        return _merge_by_dict(hits)
    words = _rng.integers(1, 2**63, size=n_pairs, dtype=np.int64).view(np.uint64)
    starts = np.zeros(lens_all.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens_all, out=starts[1:])
    keys = np.add.reduceat(words[flat_all], starts[:-1])
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    rep = first[inverse]  # each series' first series with the same key
    # confirm: same label count and the same pairs, position by position
    if not bool((lens_all[rep] == lens_all).all()):
        return _merge_by_dict(hits)
    pos = np.arange(flat_all.shape[0], dtype=np.int64)
    owner = np.repeat(np.arange(lens_all.shape[0], dtype=np.int64), lens_all)
    if not bool((flat_all[starts[rep][owner] + pos - starts[owner]] == flat_all).all()):
        return _merge_by_dict(hits)
    order = np.argsort(first, kind="stable")  # distinct series in order of first appearance
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0])
    q_all = rank[inverse]
    bounds = np.zeros(len(hits) + 1, dtype=np.int64)
    np.cumsum([ids.shape[0] for _, ids in hits], out=bounds[1:])
    labels: list[Labels | None] = [None] * order.shape[0]
    reps = first[order]  # global row of each distinct series' first appearance
    src_of = np.searchsorted(bounds, reps, side="right") - 1
    for si in np.unique(src_of).tolist():
        mine = np.flatnonzero(src_of == si)
        src, ids = hits[si]
        built = src.labels_of(ids[reps[mine] - bounds[si]])
        for k, lb in zip(mine.tolist(), built, strict=True):
            labels[k] = lb
    remaps = [q_all[bounds[i] : bounds[i + 1]] for i in range(len(hits))]
    return labels, remaps  # type: ignore[return-value]


def _merge_by_dict(
    hits: Sequence[tuple[SeriesSource | IndexedSource, I64]],
) -> tuple[list[Labels], list[I64]]:
    keys: dict[Labels, int] = {}
    labels: list[Labels] = []
    remaps = []
    for src, ids in hits:
        lbs = src.labels_of(ids)
        remap = np.empty(len(lbs), dtype=np.int64)
        for i, lb in enumerate(lbs):
            q = keys.get(lb)
            if q is None:
                q = keys[lb] = len(labels)
                labels.append(lb)
            remap[i] = q
        remaps.append(remap)
    return labels, remaps


def _merge_parts(parts: Sequence[BlockColumns | dict[Labels, HeadColumns]]) -> dict[Labels, HeadColumns]:
    """Per series, the samples of several sources in time order (``_merge_columns``)."""
    dicts = [p.per_series() if isinstance(p, BlockColumns) else p for p in parts]
    if len(dicts) <= 1:
        return dicts[0] if dicts else {}
    acc: dict[Labels, list[HeadColumns]] = {}
    for part in dicts:
        for lb, cols in part.items():
            acc.setdefault(lb, []).append(cols)
    return {lb: ps[0] if len(ps) == 1 else _merge_columns(ps) for lb, ps in acc.items()}


def _block_columns_alone(bc: BlockColumns) -> SeriesSet | None:
    """A select whose samples are all one block's histograms, as a ``SeriesSet`` without
    going series by series (what ``merge_into`` gives for it); None when some series'
    timestamps do not strictly ascend (``merge_into`` keeps the last of a repeated one)."""
    ts = bc.ts
    if ts.shape[0] > 1:
        up = np.diff(ts) > 0
        up[bc.starts[1:-1] - 1] = True  # a series' first sample follows another series
        if not bool(up.all()):
            return None
    return SeriesSet(bc.labels, ts, np.full(ts.shape[0], np.nan), bc.starts, hcols=bc.hcols)


def runs_as_columns(got: dict[Labels, list[Run]]) -> dict[Labels, HeadColumns]:
    """A block's histogram samples, read as runs (``histpages.Run``), as the columns the
    engine computes on (``model.histcols``): one ``Layout`` per distinct layout among
    them all, its rows the runs' value columns; no histogram object is built (reading an
    hour of 1,000 series through objects cost about a CPU second)."""
    gid: dict[LayoutKey, int] = {}
    mats: list[list[npt.NDArray[np.float64]]] = []
    hints: list[list[npt.NDArray[np.uint8]]] = []
    sizes: list[int] = []
    firsts: list[Run] = []
    where: dict[Labels, list[tuple[int, int, int]]] = {}  # (layout, first row, rows) per run
    for lb, runs in got.items():
        at = where[lb] = []
        for r in runs:
            g = gid.get(r.layout.key)
            if g is None:
                g = gid[r.layout.key] = len(mats)
                mats.append([])
                hints.append([])
                sizes.append(0)
                firsts.append(r)
            at.append((g, sizes[g], len(r)))
            mats[g].append(r.values)
            hints[g].append(r.hints)
            sizes[g] += len(r)
    layouts: list[Layout] = []
    for g, first in enumerate(firsts):
        lo = first.layout
        # (rows, width) in one copy: the runs' columns transposed as they are joined
        m = np.concatenate([v.T for v in mats[g]], axis=0)
        pos, neg = lo.positive, lo.negative
        if list(pos) != sorted(pos) or list(neg) != sorted(neg):  # the columns' indexes ascend
            order = np.concatenate(([0, 1, 2], 3 + np.argsort(pos), 3 + len(pos) + np.argsort(neg)))
            m = m[:, order.astype(np.int64)]
            pos, neg = tuple(sorted(pos)), tuple(sorted(neg))
        layouts.append(Layout(lo.schema, lo.zero_threshold, lo.custom_values, pos, neg, m,
                              np.concatenate(hints[g]).astype(np.int8)))
    out: dict[Labels, HeadColumns] = {}
    for lb, runs in got.items():
        at = where[lb]
        lid = np.concatenate([np.full(k, g, dtype=np.int32) for g, _, k in at])
        row = np.concatenate([np.arange(a, a + k, dtype=np.int64) for _, a, k in at])
        out[lb] = ([t for r in runs for t in r.ts.tolist()], HistCols(lid, row, layouts))
    return out


def _merge_columns(parts: Sequence[HeadColumns]) -> HeadColumns:
    """One series' samples from several places, in time order; where two hold the same
    timestamp the earlier part wins (as ``histblock.merge_columns``)."""
    parts = [p for p in parts if p[0]]
    if len(parts) == 1:
        return parts[0]
    cols = HistCols.concat([p[1] for p in parts])
    if all(a[0][-1] < b[0][0] for a, b in itertools.pairwise(parts)):
        return [t for p in parts for t in p[0]], cols
    first: dict[int, int] = {}
    for k, t in enumerate(t for p in parts for t in p[0]):
        first.setdefault(t, k)
    order = sorted(first)
    pick = np.array([first[t] for t in order], dtype=np.int64)
    part = np.searchsorted(np.cumsum([len(p[0]) for p in parts]), pick, side="right")
    switched = np.zeros(len(order), dtype=bool)
    switched[1:] = part[1:] != part[:-1]  # interleaved parts (an out-of-order block or head)
    return order, unknown_hints(cols.take(pick), switched)
