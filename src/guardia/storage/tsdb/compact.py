"""Turning data into blocks and blocks into fewer, larger blocks; deleting expired ones.

* ``write_block`` streams any set of sources (the head, blocks, backfill input) over a time
  range into one new block, merging each series' samples in time order without duplicates.
  Series go in label-sorted groups so memory stays bounded by the group, not the range.
* ``plan`` picks what to compact next: overlapping blocks first (late samples written below
  the head, or backfilled data: "vertical compaction", duplicates resolved by ``block_order``),
  then runs of adjacent blocks that fill a larger aligned range (2h → 6h → 18h ...), once
  newer data shows the range is complete — the policy Prometheus uses.
* ``expired`` applies retention by time (relative to the newest block) and by size
  (oldest blocks go first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardia.model import Labels
from guardia.storage.tsdb.block import Block, BlockWriter
from guardia.storage.tsdb.histblock import HistogramSource, write_histograms
from guardia.storage.tsdb.index import layout_key
from guardia.storage.tsdb.merge import Fragment, assemble
from guardia.storage.tsdb.source import SeriesSource

GROUP = 8192


def write_block(
    parent: Path,
    sources: Sequence[SeriesSource],
    mint: int,
    maxt_excl: int,
    *,
    level: int = 1,
    block_sources: Sequence[str] = (),
    page_rows: int = 256,
    zstd_level: int = 9,
    progress: Callable[[int], None] | None = None,
    hist_sources: Sequence[HistogramSource] = (),
    meta_extra: dict[str, object] | None = None,
) -> Path | None:
    """Write every sample of ``sources`` in ``[mint, maxt_excl)`` as one block, with the
    native histogram samples of ``hist_sources`` (the first source wins where two hold a
    series at the same timestamp, as for floats)."""
    maxt = maxt_excl - 1
    where: dict[Labels, list[tuple[int, int]]] = {}
    for si, src in enumerate(sources):
        ids = src.select_ids([], mint, maxt)
        for lb, i in zip(src.labels_of(ids), ids.tolist(), strict=True):
            where.setdefault(lb, []).append((si, i))
    order = sorted(where, key=layout_key)
    writer = BlockWriter(
        parent, mint, maxt_excl, level=level, sources=block_sources, page_rows=page_rows,
        zstd_level=zstd_level,
    )
    if meta_extra:
        writer.meta_extra.update(meta_extra)
    try:
        for g in range(0, len(order), GROUP):
            group = order[g : g + GROUP]
            per_src: list[tuple[list[int], list[int]]] = [([], []) for _ in sources]
            for qi, lb in enumerate(group):
                for si, i in where[lb]:
                    per_src[si][0].append(i)
                    per_src[si][1].append(qi)
            frags: list[Fragment] = []
            for src, (id_list, q_list) in zip(sources, per_src, strict=True):
                if not id_list:
                    continue
                ida = np.array(id_list, dtype=np.int64)
                qa = np.array(q_list, dtype=np.int64)
                srt = np.argsort(ida, kind="stable")
                ida, qa = ida[srt], qa[srt]
                for f in src.fragments(ida, mint, maxt):
                    f.qidx = qa[f.qidx]
                    frags.append(f)
            counts, ts, vs = assemble(len(group), frags, mint, maxt)
            writer.add(group, counts, ts, vs)
            if progress is not None:
                progress(len(group))
        write_histograms(writer.histograms, hist_sources, mint, maxt)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def block_order(b: Block) -> tuple[int, str]:
    """The order blocks are read and merged in: by start, then by ULID (creation time).

    Where blocks overlap and hold samples at the same timestamp for a series, the first in
    this order wins, in queries (``merge.assemble`` keeps the first source's sample) and in
    the block compaction writes, so both give the same answer.  For the blocks guardia writes
    that is the sample that reached a block first: a block of late samples is newer than
    the block it overlaps, and a compacted block older than any late block it overlaps
    (overlapping blocks are merged before any other compaction).
    """
    return (b.mint, b.ulid)


@dataclass(frozen=True, slots=True)
class Plan:
    blocks: list[Block]  # in ``block_order``: the first wins on equal timestamps
    mint: int
    maxt_excl: int
    reason: str

    @property
    def vertical(self) -> bool:
        """Blocks that overlap in time (Prometheus's "vertical compaction")."""
        return self.reason == "overlapping"


def plan(blocks: Sequence[Block], ranges: Sequence[int]) -> Plan | None:
    """The next compaction to run, or None."""
    bs = sorted(blocks, key=lambda b: (b.mint, b.maxt))
    # 1. Overlapping blocks are merged first (vertical compaction).
    i = 0
    while i < len(bs):
        group = [bs[i]]
        end = bs[i].maxt
        j = i + 1
        while j < len(bs) and bs[j].mint <= end:
            group.append(bs[j])
            end = max(end, bs[j].maxt)
            j += 1
        if len(group) > 1:
            return Plan(sorted(group, key=block_order), min(b.mint for b in group), end + 1, "overlapping")
        i = j
    if not bs:
        return None
    newest = max(b.maxt for b in bs) + 1
    # 2. Adjacent blocks filling an aligned larger range.
    for r in ranges[1:]:
        windows: dict[int, list[Block]] = {}
        for b in bs:
            k = b.mint // r
            if (b.maxt + 1) <= (k + 1) * r and (b.maxt + 1 - b.mint) < r:
                windows.setdefault(k, []).append(b)
        for k in sorted(windows):
            group = windows[k]
            end = (k + 1) * r
            if len(group) >= 2 and end <= newest:
                return Plan(sorted(group, key=block_order), min(b.mint for b in group),
                            max(b.maxt for b in group) + 1,
                            f"range {r // 3_600_000}h")
    return None


def expired(blocks: Sequence[Block], retention_ms: int, retention_bytes: int,
            head_bytes: int = 0) -> list[tuple[Block, str]]:
    """Blocks to delete, oldest first, with the reason ("time" or "size")."""
    bs = sorted(blocks, key=lambda b: b.maxt)
    out: list[tuple[Block, str]] = []
    gone: set[str] = set()
    if retention_ms > 0 and bs:
        newest = bs[-1].maxt + 1
        for b in bs:
            if b.maxt + 1 <= newest - retention_ms:
                out.append((b, "time"))
                gone.add(b.ulid)
    if retention_bytes > 0:
        sizes = {b.ulid: b.size_bytes() for b in bs}
        total = head_bytes + sum(sizes[b.ulid] for b in bs if b.ulid not in gone)
        for b in bs:
            if total <= retention_bytes:
                break
            if b.ulid in gone:
                continue
            out.append((b, "size"))
            gone.add(b.ulid)
            total -= sizes[b.ulid]
    return out
