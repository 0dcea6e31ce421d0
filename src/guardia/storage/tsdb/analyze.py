"""What is in a data directory: series, samples, bytes per sample, cardinality hot spots.

The answers an operator needs when the disk fills up or queries slow down: which metric
names have the most series, which labels have the most values (a request id or a user id
in a label is the usual culprit), and how well blocks compress.  Native histograms are
counted where they are kept: each block's histogram part, and the head.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from guardia.model import Labels
from guardia.storage.tsdb.db import TSDB


@dataclass(slots=True)
class BlockInfo:
    """A block's float part (series, samples and bytes without its native histograms)."""

    ulid: str
    mint: int
    maxt: int
    level: int
    series: int
    samples: int
    bytes: int

    @property
    def bytes_per_sample(self) -> float:
        return self.bytes / self.samples if self.samples else 0.0


@dataclass(slots=True)
class HistogramPartInfo:
    """A block's native histogram part (``<block>/histograms``): series, samples, bytes."""

    ulid: str
    mint: int
    maxt: int
    series: int
    samples: int
    bytes: int

    @property
    def bytes_per_sample(self) -> float:
        return self.bytes / self.samples if self.samples else 0.0


@dataclass(slots=True)
class Analysis:
    blocks: list[BlockInfo] = field(default_factory=list)
    head_series: int = 0
    head_samples: int = 0
    head_mint: int | None = None
    head_maxt: int | None = None
    series: int = 0
    histogram_parts: list[HistogramPartInfo] = field(default_factory=list)
    head_histogram_series: int = 0
    head_histogram_samples: int = 0
    top_metrics: list[tuple[str, int]] = field(default_factory=list)
    top_label_names: list[tuple[str, int]] = field(default_factory=list)
    top_label_pairs: list[tuple[str, int]] = field(default_factory=list)

    @property
    def block_samples(self) -> int:
        return sum(b.samples for b in self.blocks)

    @property
    def block_bytes(self) -> int:
        return sum(b.bytes for b in self.blocks)


def analyze(db: TSDB, limit: int = 10) -> Analysis:
    out = Analysis()
    all_series: set[Labels] = set()
    for b in db.blocks:
        hbytes = 0
        if b.histograms is not None:
            hp = b.histograms
            hbytes = sum(p.stat().st_size for p in hp.dir.iterdir() if p.is_file())
            out.histogram_parts.append(
                HistogramPartInfo(b.ulid, b.mint, b.maxt + 1, hp.num_series, hp.num_samples, hbytes)
            )
            all_series.update(hp.histogram_labels())
        # the float part: its bytes per sample are not diluted by the histogram pages
        fbytes = b.size_bytes() - hbytes
        out.blocks.append(BlockInfo(b.ulid, b.mint, b.maxt + 1, b.level, b.num_series, b.num_samples, fbytes))
        all_series.update(b.index.iter_labels())
    h = db.head
    out.head_series = h.num_series
    out.head_samples = h.num_samples()
    if h.maxt >= h.mint:
        out.head_mint, out.head_maxt = h.mint, h.maxt
    all_series.update(h.index.iter_labels())
    out.head_histogram_series, out.head_histogram_samples, hist_labels = db.histograms.describe()
    all_series.update(hist_labels)  # histogram-only series may be gone from the head's index
    out.series = len(all_series)
    metrics: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    values: dict[str, set[str]] = {}
    for lb in all_series:
        metrics[lb.name] += 1
        for k, v in lb:
            values.setdefault(k, set()).add(v)
            if k != "__name__":
                pairs[f'{k}="{v}"'] += 1
    out.top_metrics = metrics.most_common(limit)
    out.top_label_pairs = pairs.most_common(limit)
    out.top_label_names = sorted(((k, len(v)) for k, v in values.items()), key=lambda x: (-x[1], x[0]))[
        :limit
    ]
    return out
