"""Immutable on-disk blocks: one directory per time range.

Layout of a block directory (named by a ULID, as Prometheus names blocks)::

    meta.json        time range [minTime, maxTime), stats, compaction level and sources
    index            zstd-compressed: symbol table, series label sets (sorted), page table
    chunks/000001    page blobs (``chunks.encode_page``) back to back

Series are stored in layout order (``index.layout_key``: metric name, job, other labels,
instance), so the series a selector picks sit next to each other and it reads a
few pages, each holding up to ``block_page_rows`` series over the
whole block range.  Pages carry a CRC in the page table; a damaged page is reported and
skipped, the rest of the block still serves.  A block is written into ``<ulid>.tmp`` and
renamed into place, so a crash never leaves a half block that looks complete.  Reads go
through ``mmap``: the OS page cache holds hot pages, the process only what it decodes.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import secrets
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from guardia.model import Labels, Matcher
from guardia.storage.tsdb.blockindex import (
    BlockCorruptError,
    fsync_dir,
    read_index,
    write_index,
)
from guardia.storage.tsdb.chunks import decode_batches, decode_pages_rows, encode_page
from guardia.storage.tsdb.histblock import DIR as HIST_DIR
from guardia.storage.tsdb.histblock import HistogramPart, HistogramPartWriter
from guardia.storage.tsdb.index import MemIndex, layout_key
from guardia.storage.tsdb.merge import Fragment, excl_cumsum, gather_rows
from guardia.storage.tsdb.source import IndexedSource

log = logging.getLogger("guardia.storage.tsdb.block")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# Samples per zstd frame of a block page (``chunks``): one or two series per frame for
# 2 h blocks, one for compacted ones.  Smaller frames make a read of a few series of a
# page cheaper; these cost 1% more bytes than unframed pages in 6 h blocks, 7% in 2 h ones.
BLOCK_FRAME_SAMPLES = 1024
CHUNKS_FILE = "000001"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_last_ulid = [0]
_ulid_lock = threading.Lock()


def new_ulid(ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, sortable by time.

    Monotonic within the process (two in the same millisecond count up), so the ULID order of
    blocks is the order they were written in: where blocks overlap, it decides which
    sample wins (``compact.block_order``)."""
    t = int(time.time() * 1000) if ms is None else ms
    n = (t & ((1 << 48) - 1)) << 80 | int.from_bytes(secrets.token_bytes(10), "big")
    if ms is None:
        with _ulid_lock:
            if n <= _last_ulid[0] and n >> 80 == _last_ulid[0] >> 80:
                n = _last_ulid[0] + 1
            _last_ulid[0] = n
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(chars))


# --- writing ------------------------------------------------------------------------------


class BlockWriter:
    """Streams series (in label order) into a new block directory."""

    def __init__(
        self,
        parent: Path,
        mint: int,
        maxt: int,
        *,
        level: int = 1,
        sources: Sequence[str] = (),
        page_rows: int = 256,
        zstd_level: int = 9,
    ) -> None:
        self.ulid = new_ulid()
        self.parent = parent
        self.tmp = parent / f"{self.ulid}.tmp"
        (self.tmp / "chunks").mkdir(parents=True)
        self.mint, self.maxt = mint, maxt
        self.level = level
        self.sources = list(sources) or [self.ulid]
        self.page_rows = page_rows
        self.zstd_level = zstd_level
        self._chunks = open(self.tmp / "chunks" / CHUNKS_FILE, "wb")  # noqa: SIM115
        self._offset = 0
        self.labels: list[Labels] = []
        self._pages: list[tuple[int, int, int, int, int, int]] = []
        self._pending_l: list[Labels] = []
        self._pending: list[tuple[I64, I64, F64]] = []
        self._pending_rows = 0
        self.num_samples = 0
        self.data_mint = 2**63 - 1
        self.data_maxt = -(2**63)
        self._last: tuple[str, str, tuple[tuple[str, str], ...], str] | None = None
        # native histogram series go to their own pages (``histblock``)
        self.histograms = HistogramPartWriter(self.tmp, zstd_level)
        self.meta_extra: dict[str, Any] = {}

    def add(self, labels: Sequence[Labels], counts: I64, ts: I64, vs: F64) -> None:
        """Series in label order with their samples (rows of ``counts`` samples)."""
        keep = counts > 0
        if not keep.all():
            idx = np.nonzero(keep)[0]
            labels = [labels[i] for i in idx.tolist()]
            sel, _ = gather_rows(excl_cumsum(counts), counts, idx)
            counts, ts, vs = counts[idx], ts[sel], vs[sel]
        if not labels:
            return
        first = layout_key(labels[0])
        if self._last is not None and not self._last < first:
            raise ValueError("series must be added to a block in layout order (index.layout_key)")
        self._last = layout_key(labels[-1])
        self._pending_l.extend(labels)
        self._pending.append((counts, ts, vs))
        self._pending_rows += len(labels)
        while self._pending_rows >= self.page_rows:
            self._flush(self.page_rows)

    def _flush(self, rows: int) -> None:
        counts = np.concatenate([p[0] for p in self._pending])
        ts = np.concatenate([p[1] for p in self._pending])
        vs = np.concatenate([p[2] for p in self._pending])
        n = int(counts[:rows].sum())
        blob = encode_page(
            counts[:rows].astype(np.int32), ts[:n], vs[:n], self.zstd_level, BLOCK_FRAME_SAMPLES
        )
        self._chunks.write(blob)
        first = len(self.labels)
        self.labels.extend(self._pending_l[:rows])
        pmin, pmax = int(ts[:n].min()), int(ts[:n].max())
        self._pages.append((self._offset, len(blob), first, zlib.crc32(blob), pmin, pmax))
        self._offset += len(blob)
        self.num_samples += n
        self.data_mint = min(self.data_mint, pmin)
        self.data_maxt = max(self.data_maxt, pmax)
        self._pending_l = self._pending_l[rows:]
        self._pending = [(counts[rows:], ts[n:], vs[n:])] if counts.shape[0] > rows else []
        self._pending_rows -= rows

    def finish(self) -> Path | None:
        """Write index and meta, then rename into place; None if the block would be empty."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._chunks.flush()
        os.fsync(self._chunks.fileno())
        self._chunks.close()
        self.histograms.finish()
        if not self.labels and not self.histograms.labels:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return None
        write_index(self.tmp / "index", self.labels, self._pages)
        meta = {
            "ulid": self.ulid,
            "minTime": self.mint,
            "maxTime": self.maxt,
            "stats": {
                "numSamples": self.num_samples,
                "numSeries": len(self.labels),
                "numChunks": len(self._pages),
                "numHistogramSeries": len(self.histograms.labels),
                "numHistogramSamples": self.histograms.num_samples,
            },
            "compaction": {"level": self.level, "sources": sorted(self.sources)},
            "version": 1,
            "guardia": {"format": "guardia-block-1", **self.meta_extra},
        }
        with open(self.tmp / "meta.json", "w") as f:
            json.dump(meta, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        final = self.parent / self.ulid
        os.replace(self.tmp, final)
        fsync_dir(self.parent)
        return final

    def abort(self) -> None:
        self.histograms.abort()
        if not self._chunks.closed:
            self._chunks.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_index_labels(path: Path) -> tuple[list[Labels], I64]:
    """Every label set of a block index, and its page table (for tools and tests)."""
    syms, nlab, pairs, pt, _ = read_index(path)
    index = MemIndex.from_table(syms, nlab, pairs)
    return list(index.iter_labels()), pt


# --- reading ------------------------------------------------------------------------------


class Block(IndexedSource):
    """A loaded block: its index in memory, its chunks mapped."""

    def __init__(
        self, path: Path, on_corrupt: Any = None, tables: dict[bytes, MemIndex] | None = None
    ) -> None:
        """``tables``: indexes of blocks loaded before, by their series table; a block with
        the same table shares that index (a backfilled or uncompacted store holds the same
        series in every 2-hour block: one index instead of a hundred, and a select over
        them recognises the same series without comparing them)."""
        self.path = path
        try:
            self.meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
            self.ulid: str = self.meta["ulid"]
            self.mint: int = int(self.meta["minTime"])
            self.maxt: int = int(self.meta["maxTime"]) - 1  # inclusive for range checks
            syms, nlab, pairs, self._pt, table = read_index(path / "index")
        except (OSError, ValueError, KeyError, struct.error, zstandard.ZstdError) as e:
            raise BlockCorruptError(f"block {path.name}: {e}") from None
        shared = tables.get(table) if tables is not None else None
        self.index = shared if shared is not None else MemIndex.from_table(syms, nlab, pairs)
        if tables is not None and shared is None:
            tables[table] = self.index
        self._first = self._pt[:, 2].copy()
        self._bad: set[int] = set()
        self._on_corrupt = on_corrupt
        self._readers_lock = threading.Lock()
        self._readers = 0
        self._retired = False
        cpath = path / "chunks" / CHUNKS_FILE
        try:
            self._file = open(cpath, "rb")  # noqa: SIM115
        except OSError as e:
            raise BlockCorruptError(f"block {path.name}: {e}") from None
        size = os.fstat(self._file.fileno()).st_size
        self._mm: mmap.mmap | None = (
            mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        )
        self._verify(size)
        # native histogram series, when the block has any (``histblock``)
        self.histograms: HistogramPart | None = None
        if (path / HIST_DIR / "index").is_file():
            try:
                self.histograms = HistogramPart(
                    path, self.ulid, int(self.meta.get("stats", {}).get("numHistogramSamples", 0)),
                    lambda i, why: on_corrupt(self, i, why) if on_corrupt is not None else None,
                )
            except BlockCorruptError as e:
                # the floats still serve; the histograms of this block are lost to reads
                log.error("event=block_unreadable block=%s part=histograms error=%r action=skipped",
                          self.ulid, str(e))
                if on_corrupt is not None:
                    on_corrupt(self, -1, str(e))

    @property
    def level(self) -> int:
        return int(self.meta.get("compaction", {}).get("level", 1))

    @property
    def sources(self) -> list[str]:
        return list(self.meta.get("compaction", {}).get("sources", [self.ulid]))

    @property
    def num_samples(self) -> int:
        return int(self.meta.get("stats", {}).get("numSamples", 0))

    @property
    def num_series(self) -> int:
        return len(self.index)

    def size_bytes(self) -> int:
        total = 0
        for p in self.path.rglob("*"):
            if p.is_file():
                total += p.stat().st_size
        return total

    def _verify(self, size: int) -> None:
        for i, (off, ln, _first, crc, _a, _b) in enumerate(self._pt.tolist()):
            if off + ln > size or self._mm is None or zlib.crc32(self._mm[off : off + ln]) != crc:
                self._mark_bad(i, "checksum mismatch" if off + ln <= size else "chunk file truncated")

    def _mark_bad(self, i: int, reason: str) -> None:
        if i in self._bad:
            return
        self._bad.add(i)
        lo, hi = self._page_series(i)
        off, ln = (int(x) for x in self._pt[i, :2])
        log.warning(
            "event=block_chunk_corrupt block=%s file=%s page=%d offset=%d length=%d series=%d..%d "
            "reason=%r action=skipped",
            self.ulid, self.path / "chunks" / CHUNKS_FILE, i, off, ln, lo, hi - 1, reason,
        )
        if self._on_corrupt is not None:
            self._on_corrupt(self, i, reason)

    def _page_series(self, i: int) -> tuple[int, int]:
        lo = int(self._first[i])
        hi = int(self._first[i + 1]) if i + 1 < self._first.shape[0] else len(self.index)
        return lo, hi

    @property
    def corrupt_pages(self) -> set[int]:
        return set(self._bad)

    def acquire(self) -> None:
        """A querier reads this block until it calls ``release``."""
        with self._readers_lock:
            self._readers += 1

    def release(self) -> None:
        with self._readers_lock:
            self._readers -= 1
            if self._readers == 0 and self._retired:
                self._close_now()

    def close(self) -> None:
        """Close now, or when the last querier reading the block releases it.

        Compaction and retention delete a block's directory while queriers made before
        may still read it: the open map keeps the deleted files' data readable (and on
        disk) until the block is really closed.
        """
        with self._readers_lock:
            self._retired = True
            if self._readers == 0:
                self._close_now()

    def _close_now(self) -> None:
        if self.histograms is not None:
            self.histograms.close()
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._file.close()

    # --- querier view -----------------------------------------------------------------

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        if mint > self.maxt or maxt < self.mint:
            return np.zeros(0, dtype=np.int64)
        return self.index.postings_for(matchers) if matchers else self.index.all_ids()

    def fragments(self, ids: I64, mint: int, maxt: int) -> list[Fragment]:
        out: list[Fragment] = []
        if not ids.size or self._mm is None:
            return out
        page_of = np.searchsorted(self._first, ids, side="right") - 1
        bounds = np.nonzero(np.diff(page_of))[0] + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [ids.shape[0]]))
        wanted: list[tuple[int, int, int]] = []  # (page, first query position, end)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            pi = int(page_of[a])
            if pi in self._bad:
                continue
            _off, _ln, _first, _crc, pmin, pmax = self._pt[pi].tolist()
            if pmax >= mint and pmin <= maxt:
                wanted.append((pi, a, b))
        # Pages are decoded in batches: numpy's per-call cost is shared by many pages.
        per_series = max(1, self.num_samples // max(self.num_series, 1))
        for batch in decode_batches(wanted, lambda w: (w[2] - w[1]) * per_series):
            out.extend(self._decode_batch(batch, ids))
        return out

    def _decode_batch(self, batch: list[tuple[int, int, int]], ids: I64) -> list[Fragment]:
        assert self._mm is not None  # fragments() returns early for an empty chunks file
        items = []
        for pi, a, b in batch:
            off, ln, first = (int(x) for x in self._pt[pi, :3])
            items.append((self._mm[off : off + ln], ids[a:b] - first))
        dec = decode_pages_rows(items)
        for i, reason in dec.bad:
            self._mark_bad(batch[i][0], reason)
        if not dec.ok:
            return []
        qidx = np.concatenate([np.arange(batch[i][1], batch[i][2], dtype=np.int64) for i in dec.ok])
        return [Fragment(qidx, dec.counts.astype(np.int64), dec.ts, dec.vs, dec.row)]


def is_block_dir(p: Path) -> bool:
    return p.is_dir() and len(p.name) == 26 and (p / "meta.json").is_file()
