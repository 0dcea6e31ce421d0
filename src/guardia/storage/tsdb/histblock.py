"""The native histogram part of a block: ``<block>/histograms/index`` and
``<block>/histograms/000001``.

The same layout as the block's float part: an index (``blockindex``: series table in layout
order and page table with CRCs and time bounds) and the pages back to back, here
``histpages`` pages of up to ``PAGE_ROWS`` series and about ``PAGE_SAMPLES`` samples.  A
block without histogram samples has no ``histograms`` directory (blocks written before
histograms went into blocks have none either).

``HistogramPart`` reads one; ``HistogramPartWriter`` writes one (``BlockWriter`` drives
it).  A damaged page is logged (``event=block_chunk_corrupt ... kind=histogram``) and
skipped, as a float page is; the rest of the block serves.

Anything histogram samples can be read from for a block write (the head's frozen samples,
a block's part, samples migrated from old range files) is a ``HistogramSource``.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import logging
import mmap
import os
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import numpy.typing as npt
import zstandard

from guardia.model import Labels, Matcher
from guardia.model.histcols import HistCols
from guardia.model.histcols import Layout as HCLayout
from guardia.model.histogram import COUNTER_RESET, NOT_COUNTER_RESET, UNKNOWN, FloatHistogram
from guardia.storage.tsdb.blockindex import BlockCorruptError, read_index, write_index
from guardia.storage.tsdb.histpages import (
    Columns,
    HistogramPage,
    HistogramPageError,
    LayoutKey,
    Run,
    encode_page_runs,
    join_runs,
    runs_of,
)
from guardia.storage.tsdb.histpages import Layout as PageLayout
from guardia.storage.tsdb.index import MemIndex, layout_key

log = logging.getLogger("guardia.storage.tsdb.block")


class _Closed:
    """What ``HistogramPart._page`` returns once the part is closed (a query racing a delete)."""


_CLOSED = _Closed()

I64 = npt.NDArray[np.int64]

DIR = "histograms"
CHUNKS = "000001"
PAGE_ROWS = 64
PAGE_SAMPLES = 16_384


class HistogramSource(Protocol):
    """Native histogram samples a block can be written from."""

    def histogram_labels(self) -> list[Labels]:
        """Every series with histogram samples here."""
        ...

    def read_runs(self, labels: Sequence[Labels], mint: int, maxt: int) -> dict[Labels, list[Run]]:
        """The samples of these series in ``[mint, maxt]`` as runs (series without any left
        out): columns, no histogram object per sample."""
        ...

    def histogram_samples(self) -> int:
        """How many samples there are (to size groups of series)."""
        ...


class MemoryHistograms:
    """Samples held in memory as a ``HistogramSource`` (a frozen view of the head's, or
    the samples of an old range file)."""

    def __init__(self, series: Mapping[Labels, Columns]) -> None:
        self._series = dict(series)

    def histogram_labels(self) -> list[Labels]:
        return list(self._series)

    def read_histograms(self, labels: Sequence[Labels], mint: int, maxt: int) -> dict[Labels, Columns]:
        out: dict[Labels, Columns] = {}
        for lb in labels:
            got = self._series.get(lb)
            if got is None:
                continue
            ts, hs = got
            a, b = bisect.bisect_left(ts, mint), bisect.bisect_right(ts, maxt)
            if a < b:
                out[lb] = (ts[a:b], hs[a:b])
        return out

    def read_runs(self, labels: Sequence[Labels], mint: int, maxt: int) -> dict[Labels, list[Run]]:
        return {lb: runs_of(ts, hs) for lb, (ts, hs) in self.read_histograms(labels, mint, maxt).items()}

    def histogram_samples(self) -> int:
        return sum(len(ts) for ts, _ in self._series.values())


class ColumnHistograms:
    """The head's columnar samples (``model.histcols`` layouts; per series its timestamps
    and each sample's layout id and row) as a ``HistogramSource``: runs are cut where the
    layout changes and gathered from the layouts' rows, no histogram object built.  The
    head cut takes this view under the store's lock (copies of the per-series lists and of
    the layout list: a layout is never changed once made) and writes the block from it
    outside the lock."""

    def __init__(self, series: Mapping[Labels, tuple[list[int], list[int], list[int]]],
                 layouts: Sequence[HCLayout]) -> None:
        self._series = dict(series)
        self._layouts = list(layouts)
        self._keys: dict[int, tuple[LayoutKey, PageLayout]] = {}

    def histogram_labels(self) -> list[Labels]:
        return list(self._series)

    def histogram_samples(self) -> int:
        return sum(len(ts) for ts, _, _ in self._series.values())

    def timestamps(self) -> dict[Labels, list[int]]:
        """Each series' timestamps in the view (what the head drops once the block is in)."""
        return {lb: ts for lb, (ts, _, _) in self._series.items()}

    def span(self) -> tuple[int, int] | None:
        """The earliest and the latest timestamp held, or None."""
        got = [(ts[0], ts[-1]) for ts, _, _ in self._series.values() if ts]
        return (min(a for a, _ in got), max(b for _, b in got)) if got else None

    def _key(self, lid: int) -> tuple[LayoutKey, PageLayout]:
        got = self._keys.get(lid)
        if got is None:
            lo = self._layouts[lid]
            pl = PageLayout(lo.schema, lo.zero_threshold, tuple(lo.custom_values), tuple(lo.pos),
                            tuple(lo.neg))
            got = self._keys[lid] = (pl.key, pl)
        return got

    def read_runs(self, labels: Sequence[Labels], mint: int, maxt: int) -> dict[Labels, list[Run]]:
        out: dict[Labels, list[Run]] = {}
        for lb in labels:
            got = self._series.get(lb)
            if got is None:
                continue
            ts, lids, rows = got
            a, b = bisect.bisect_left(ts, mint), bisect.bisect_right(ts, maxt)
            if a >= b:
                continue
            if any(self._layouts[li].keep is not None for li in set(lids[a:b])):
                # a computed layout (some rows lack buckets): through objects, which say
                # exactly which buckets each histogram holds
                hs = HistCols(np.array(lids[a:b], dtype=np.int32), np.array(rows[a:b], dtype=np.int64),
                              self._layouts).objects().tolist()
                out[lb] = runs_of(ts[a:b], hs)
                continue
            runs: list[Run] = []
            start = a
            key, pl = self._key(lids[a])
            for i in range(a + 1, b + 1):
                nxt = self._key(lids[i]) if i < b else None
                if nxt is not None and nxt[0] == key:
                    continue
                seg = range(start, i)
                vals = np.stack([self._layouts[lids[j]].m[rows[j]] for j in seg], axis=1)
                hints = np.fromiter((self._layouts[lids[j]].hint[rows[j]] for j in seg), dtype=np.int64,
                                    count=i - start).astype(np.uint8)
                runs.append(Run(np.array(ts[start:i], dtype=np.int64), pl, vals, hints))
                if nxt is not None:
                    start, (key, pl) = i, nxt
            out[lb] = runs
        return out


def merge_columns(parts: Sequence[Columns]) -> Columns:
    """One series' samples from several places, in time order; where two hold the same
    timestamp the earlier part wins (the order blocks are read in: ``compact.block_order``)."""
    parts = [p for p in parts if p[0]]
    if len(parts) == 1:
        return parts[0]
    if all(a[0][-1] < b[0][0] for a, b in itertools.pairwise(parts)):
        return [t for p in parts for t in p[0]], [h for p in parts for h in p[1]]
    by_t: dict[int, tuple[int, FloatHistogram]] = {}
    for i, (ts, hs) in enumerate(parts):
        for t, h in zip(ts, hs, strict=True):
            by_t.setdefault(t, (i, h))
    order = sorted(by_t)
    out: list[FloatHistogram] = []
    prev = -1
    for t in order:
        i, h = by_t[t]
        if prev not in (-1, i) and h.counter_reset_hint in (COUNTER_RESET, NOT_COUNTER_RESET):
            # the sample before it came from another part (interleaved: an out-of-order
            # block): its hint spoke of a predecessor it no longer has (Prometheus's merge
            # makes it unknown the same way)
            h = h.copy()
            h.counter_reset_hint = UNKNOWN
        out.append(h)
        prev = i
    return order, out


def merge_selects(selects: Iterable[Mapping[Labels, Columns]]) -> dict[Labels, Columns]:
    """Per series ``merge_columns`` over several selects (blocks in order, then the head)."""
    acc: dict[Labels, list[Columns]] = {}
    for sel in selects:
        for lb, cols in sel.items():
            acc.setdefault(lb, []).append(cols)
    return {lb: parts[0] if len(parts) == 1 else merge_columns(parts) for lb, parts in acc.items()}


class HistogramPartWriter:
    """Streams series (in layout order) into ``<tmp block>/histograms``."""

    def __init__(self, block_tmp: Path, zstd_level: int) -> None:
        self.dir = block_tmp / DIR
        self.zstd_level = zstd_level
        self._file: BinaryIO | None = None
        self._offset = 0
        self.labels: list[Labels] = []
        self._pages: list[tuple[int, int, int, int, int, int]] = []
        self._pending: list[tuple[Labels, list[Run]]] = []
        self._pending_samples = 0
        self.num_samples = 0

    def add(self, labels: Labels, runs: list[Run]) -> None:
        """A series (in layout order) and its runs in time order."""
        n = sum(len(r) for r in runs)
        if not n:
            return
        self._pending.append((labels, runs))
        self._pending_samples += n
        if len(self._pending) >= PAGE_ROWS or self._pending_samples >= PAGE_SAMPLES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._file is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.dir / CHUNKS, "wb")  # noqa: SIM115
        rows = [[r for r in runs if len(r)] for _, runs in self._pending]
        blob = encode_page_runs(rows, self.zstd_level)
        self._file.write(blob)
        pmin = min(int(runs[0].ts[0]) for runs in rows)
        pmax = max(int(runs[-1].ts[-1]) for runs in rows)
        self._pages.append((self._offset, len(blob), len(self.labels), zlib.crc32(blob), pmin, pmax))
        self._offset += len(blob)
        self.labels.extend(lb for lb, _ in self._pending)
        self.num_samples += self._pending_samples
        self._pending, self._pending_samples = [], 0

    def finish(self) -> None:
        """Write the last page and the index (nothing at all when no sample came)."""
        self._flush()
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        write_index(self.dir / "index", self.labels, self._pages)

    def abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


class HistogramPart:
    """A block's histogram series: the index in memory, the pages mapped."""

    def __init__(self, block_dir: Path, ulid: str, num_samples: int,
                 on_corrupt: Callable[[int, str], None] | None = None) -> None:
        self.dir = block_dir / DIR
        self.ulid = ulid
        self.num_samples = num_samples
        self._on_corrupt = on_corrupt
        try:
            syms, nlab, pairs, self._pt, _ = read_index(self.dir / "index")
        except (OSError, ValueError, zstandard.ZstdError) as e:
            raise BlockCorruptError(f"block {block_dir.name}: histogram index: {e}") from None
        self.index = MemIndex.from_table(syms, nlab, pairs)
        self._first = self._pt[:, 2].copy()
        self._bad: set[int] = set()
        self._lock = threading.Lock()
        try:
            self._file = open(self.dir / CHUNKS, "rb")  # noqa: SIM115
        except OSError as e:
            raise BlockCorruptError(f"block {block_dir.name}: {e}") from None
        size = os.fstat(self._file.fileno()).st_size
        self._mm: mmap.mmap | None = None
        if size:
            self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        for i, (off, ln, _f, crc, _a, _b) in enumerate(self._pt.tolist()):
            if off + ln > size or self._mm is None or zlib.crc32(self._mm[off : off + ln]) != crc:
                self._mark_bad(i, "checksum mismatch" if off + ln <= size else "chunk file truncated")

    @property
    def num_series(self) -> int:
        return len(self.index)

    @property
    def corrupt_pages(self) -> set[int]:
        return set(self._bad)

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._file.close()

    def _mark_bad(self, i: int, reason: str) -> None:
        if i in self._bad:
            return
        self._bad.add(i)
        off, ln = (int(x) for x in self._pt[i, :2])
        log.warning(
            "event=block_chunk_corrupt block=%s file=%s page=%d offset=%d length=%d kind=histogram "
            "reason=%r action=skipped", self.ulid, self.dir / CHUNKS, i, off, ln, reason,
        )
        if self._on_corrupt is not None:
            self._on_corrupt(i, reason)

    def _page(self, pi: int, mint: int, maxt: int) -> tuple[HistogramPage, int] | _Closed | None:
        """Page ``pi`` decoded with its first series id; None when it is known damaged, outside
        ``[mint, maxt]`` or found damaged now (then marked); ``_CLOSED`` once the part is closed."""
        if pi in self._bad:
            return None
        off, ln, first, _crc, pmin, pmax = self._pt[pi].tolist()
        if pmax < mint or pmin > maxt:
            return None
        with self._lock:
            if self._mm is None:
                return _CLOSED
            blob = self._mm[off : off + ln]
        try:
            return HistogramPage(blob), int(first)
        except HistogramPageError as e:
            self._mark_bad(pi, str(e))
            return None

    def _read(self, ids: I64, mint: int, maxt: int) -> dict[int, list[Run]]:
        """Samples of the series ``ids`` (ascending) in ``[mint, maxt]`` by id, as runs."""
        out: dict[int, list[Run]] = {}
        if not ids.size or self._mm is None:
            return out
        page_of = np.searchsorted(self._first, ids, side="right") - 1
        for pi in np.unique(page_of).tolist():
            got = self._page(pi, mint, maxt)
            if isinstance(got, _Closed):
                return out
            if got is None:
                continue
            page, first = got
            for sid in ids[page_of == pi].tolist():
                row = sid - first
                if not 0 <= row < len(page):
                    self._mark_bad(pi, f"series {sid} is not in the page")
                    break
                runs = page.row_runs(row, mint, maxt)
                if runs:
                    out[sid] = runs
        return out

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> dict[Labels, Columns]:
        """The matching series' samples in ``[mint, maxt]`` as (timestamps, histograms).

        The cyclic garbage collector is held off while the objects are built: they hold no
        cycles, and hundreds of thousands of new containers would set off full collections
        that scan every object of the process (most of the time spent here otherwise)."""
        got = self.select_runs(matchers, mint, maxt)
        was = gc.isenabled()
        gc.disable()
        try:
            return {lb: _columns(runs) for lb, runs in got.items()}
        finally:
            if was:
                gc.enable()

    def select_columns(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> BlockColumns:
        """The matching series' samples in ``[mint, maxt]`` straight as the query engine's
        columns (``HistogramPage.columns``): each page's runs gathered into one matrix per
        layout, no ``Run`` or histogram object built; series in the block's order.  When
        every page read is one layout in runs of one length (scraped series), the pages
        write into one matrix: the engine then takes it as it is (``histcolumns._groups``)
        instead of copying the pages' rows into one."""
        ids = self.index.postings_for(matchers) if matchers else self.index.all_ids()
        out = BlockColumns.empty()
        if not ids.size or self._mm is None:
            return out
        page_of = np.searchsorted(self._first, ids, side="right") - 1
        cuts = np.flatnonzero(np.diff(page_of)) + 1
        pages: list[tuple[HistogramPage, I64, I64]] = []  # page, its series ids, their rows
        for pi, grp in zip(page_of[np.concatenate(([0], cuts))].tolist(), np.split(ids, cuts), strict=True):
            got = self._page(pi, mint, maxt)
            if isinstance(got, _Closed):
                return out
            if got is None:
                continue
            page, first = got
            local = grp - first
            if int(local[0]) < 0 or int(local[-1]) >= len(page):
                self._mark_bad(pi, f"series {int(grp[-1])} is not in the page")
                continue
            pages.append((page, grp, local))
        shared = _shared_matrix(pages, mint, maxt)
        sids: list[I64] = []
        counts: list[I64] = []
        ts: list[I64] = []
        lids: list[npt.NDArray[np.int32]] = []
        rows: list[I64] = []
        layouts: list[HCLayout] = []
        hints: list[npt.NDArray[np.int8]] = []
        at = 0
        for page, grp, local in pages:
            into = None
            if shared is not None:
                into = shared[1][at : at + shared[2][len(sids)]]
            pc = page.columns(local, mint, maxt, into)
            at += pc.ts.shape[0]
            has = pc.counts > 0
            sids.append(grp[has])
            counts.append(pc.counts[has])
            ts.append(pc.ts)
            if shared is None:
                lids.append(pc.lid + len(layouts) if layouts else pc.lid)
                rows.append(pc.row)
                for lo, m, hint in pc.layouts:
                    layouts.append(HCLayout(lo.schema, lo.zero_threshold, lo.custom_values, lo.positive,
                                            lo.negative, m, hint))
            else:
                hints.append(pc.layouts[0][2])
        if not sids:
            return out
        n = np.concatenate(counts)
        if not n.shape[0]:
            return out
        starts = np.zeros(n.shape[0] + 1, dtype=np.int64)
        np.cumsum(n, out=starts[1:])
        if shared is not None:
            lo, m, _ = shared
            hc = HistCols(np.zeros(at, dtype=np.int32), np.arange(at, dtype=np.int64),
                          [HCLayout(lo.schema, lo.zero_threshold, lo.custom_values, lo.positive, lo.negative,
                                    m, np.concatenate(hints))])
        else:
            hc = HistCols(np.concatenate(lids).astype(np.int32, copy=False), np.concatenate(rows), layouts)
        return BlockColumns(self.index.labels_of(np.concatenate(sids)), starts, np.concatenate(ts), hc)

    def select_runs(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> dict[Labels, list[Run]]:
        """The same as runs (``histpages.Run``: a layout, its value columns, hints and
        timestamps), for a reader that computes on columns: no histogram object built."""
        ids = self.index.postings_for(matchers) if matchers else self.index.all_ids()
        got = self._read(ids, mint, maxt)
        if not got:
            return {}
        keys = np.array(sorted(got), dtype=np.int64)
        return dict(zip(self.index.labels_of(keys), (got[k] for k in keys.tolist()), strict=True))

    def labels(self, matchers: Sequence[Matcher]) -> list[Labels]:
        ids = self.index.postings_for(matchers) if matchers else self.index.all_ids()
        return self.index.labels_of(ids)

    # --- HistogramSource ------------------------------------------------------------------

    def histogram_labels(self) -> list[Labels]:
        return list(self.index.iter_labels())

    def read_runs(self, labels: Sequence[Labels], mint: int, maxt: int) -> dict[Labels, list[Run]]:
        ids = [self.index.get(lb) for lb in labels]
        pairs = sorted((i, lb) for i, lb in zip(ids, labels, strict=True) if i is not None)
        got = self._read(np.array([i for i, _ in pairs], dtype=np.int64), mint, maxt)
        return {lb: got[i] for i, lb in pairs if i in got}

    def histogram_samples(self) -> int:
        return self.num_samples


def _shared_matrix(pages: Sequence[tuple[HistogramPage, I64, I64]], mint: int,
                   maxt: int) -> tuple[PageLayout, npt.NDArray[np.float64], list[int]] | None:
    """One matrix for the selected samples of every page, when they are all pages of
    one layout read straight from their words (``HistogramPage.uniform_layout``): the
    layout, the matrix (uninitialised) and how many rows each page fills."""
    if len(pages) < 2:
        return None
    first = pages[0][0].uniform_layout()
    if first is None:
        return None
    key = first.key
    for page, _, _ in pages[1:]:
        lo = page.uniform_layout()
        if lo is None or lo.key != key:
            return None
    sizes = [int(page.selected(local, mint, maxt)[0].shape[0]) for page, _, local in pages]
    return first, np.empty((sum(sizes), first.width), dtype=np.float64), sizes


@dataclass(slots=True)
class BlockColumns:
    """A block's histogram samples for a query, flat: series ``labels[i]`` holds the samples
    ``starts[i]:starts[i+1]`` (timestamps ``ts``, histograms ``hcols``)."""

    labels: list[Labels]
    starts: I64
    ts: I64
    hcols: HistCols

    @staticmethod
    def empty() -> BlockColumns:
        return BlockColumns([], np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                            HistCols.none((0,)))

    def __len__(self) -> int:
        return len(self.labels)

    def per_series(self) -> dict[Labels, tuple[list[int], HistCols]]:
        """The same per series (timestamps as a list), for merging with other sources."""
        b = self.starts.tolist()
        ts = self.ts.tolist()
        return {lb: (ts[b[i] : b[i + 1]], self.hcols.take(slice(b[i], b[i + 1])))
                for i, lb in enumerate(self.labels)}


def _columns(runs: Sequence[Run]) -> Columns:
    ts: list[int] = []
    hs: list[FloatHistogram] = []
    for r in runs:
        ts += r.ts.tolist()
        hs += r.histograms()
    return ts, hs


def merge_runs(parts: Sequence[list[Run]]) -> list[Run]:
    """One series' runs from several sources (in ``block_order``): joined as they are when
    the sources follow each other in time (adjacent blocks); else sample by sample, the
    earlier source winning on a shared timestamp (overlapping blocks)."""
    parts = [p for p in parts if p]
    flat = [r for p in parts for r in p]
    if all(int(a.ts[-1]) < int(b.ts[0]) for a, b in itertools.pairwise(flat)):
        return join_runs(flat)
    ts, hs = merge_columns([_columns(p) for p in parts])
    return runs_of(ts, hs)


def write_histograms(writer: HistogramPartWriter, sources: Sequence[HistogramSource], mint: int,
                     maxt: int) -> None:
    """Every histogram sample of ``sources`` in ``[mint, maxt]`` through ``writer``, series in
    layout order, a group of series at a time (memory stays bounded by the group)."""
    if not sources:
        return
    labels = sorted({lb for s in sources for lb in s.histogram_labels()}, key=layout_key)
    if not labels:
        return
    per_series = max(1, sum(s.histogram_samples() for s in sources) // len(labels))
    group = max(1, min(PAGE_ROWS, PAGE_SAMPLES // per_series))
    for g in range(0, len(labels), group):
        part = labels[g : g + group]
        reads = [s.read_runs(part, mint, maxt) for s in sources]
        for lb in part:
            got = [r[lb] for r in reads if lb in r]
            if got:
                writer.add(lb, join_runs(got[0]) if len(got) == 1 else merge_runs(got))
