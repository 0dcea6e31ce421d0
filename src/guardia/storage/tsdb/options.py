"""Tunables of the embedded store, with Prometheus's defaults where Prometheus has one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

FsyncPolicy = Literal["always", "group", "never"]


@dataclass(frozen=True, slots=True)
class TSDBOptions:
    """How the store trades durability, memory and disk.

    ``block_range_ms`` is the width of the blocks the head is cut into (2h, as Prometheus);
    the head is cut once it spans 1.5 block ranges so recent data stays in memory for
    appends that arrive a little late.  ``retention_ms`` / ``retention_bytes`` of 0 mean
    "no limit" (the server passes 15d by default, as ``--storage.tsdb.retention.time``).
    """

    block_range_ms: int = 2 * HOUR_MS
    retention_ms: int = 15 * DAY_MS
    retention_bytes: int = 0
    out_of_order_time_window_ms: int = 0
    # late samples (out of order, below the head's range: their blocks exist) wait in memory
    # until the next head cut writes them into blocks, or until there are this many
    ooo_late_flush_samples: int = 500_000
    wal_fsync: FsyncPolicy = "group"
    wal_group_commit_ms: int = 1000
    wal_segment_bytes: int = 128 * 1024 * 1024
    chunk_slots: int = 16  # per series and head window (4 min): a 15 s scrape fills it exactly
    page_rows: int = 512
    block_page_rows: int = 256
    head_zstd_level: int = 1
    block_zstd_level: int = 9
    max_block_range_ms: int = 0  # 0: 10% of retention, capped at 31 days, as Prometheus
    # WAL segments a checkpoint covers but a remote write queue has not sent are kept, up
    # to this many bytes (the oldest go first beyond it); 0 keeps none (Prometheus's way)
    wal_keep_for_remote_bytes: int = 2 << 30

    def compaction_ranges(self) -> list[int]:
        """Block widths compaction builds: 2h, 6h, 18h, ... up to the maximum range."""
        limit = self.max_block_range_ms
        if limit <= 0:
            limit = min(self.retention_ms // 10 if self.retention_ms else 31 * DAY_MS, 31 * DAY_MS)
        ranges = [self.block_range_ms]
        while ranges[-1] * 3 <= limit:
            ranges.append(ranges[-1] * 3)
        return ranges
