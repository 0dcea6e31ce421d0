"""Text scrapes parsed whole into the flat form a protobuf scrape takes (``protoingest.Flat``),
for the two jobs the line-by-line path does not do:

- ``convert_classic_histograms_to_nhcb``: each classic histogram of the exposition (a
  ``# TYPE x histogram`` or ``gaugehistogram`` family's ``x_bucket``, ``x_count`` and ``x_sum``
  lines of one label set) becomes one native histogram sample with custom buckets, named
  ``x``, at the place of its first line, as Prometheus 3's NHCB parser does.  Its classic
  series stay only with ``always_scrape_classic_histograms``; a histogram whose buckets
  cannot be converted (not cumulative, a malformed ``le``, two equal bounds) keeps its
  classic series, so nothing the target sent is lost.  Bucket exemplars with a timestamp go
  with the native sample.
- ``--enable-feature=created-timestamp-zero-ingestion`` on OpenMetrics: an ``x_created`` line
  of a counter, summary or histogram is not stored as a series; its time (seconds) becomes
  the created timestamp of that label set's samples, which the scrape loop stores as a zero
  sample ahead of them (``created``: flat index → milliseconds).

The other lines pass through as they are.  This path parses the whole body every scrape (no
repeat fast path): it runs only for jobs that ask for one of these, which Prometheus 3 also
leaves off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from guardia.model import textparse as P
from guardia.model.histogram import HistogramError, from_classic
from guardia.scrape.protoingest import Flat

_PARTS = {"histogram": ("_bucket", "_count", "_sum"), "gaugehistogram": ("_bucket", "_gcount", "_gsum")}
_SUFFIXES = ("_bucket", "_count", "_sum", "_gcount", "_gsum", "_total", "_created")
_CREATED_TYPES = ("counter", "summary", "histogram", "gaugehistogram")
_SERIES_KEY_DROP = ("le", "quantile")


@dataclass(slots=True)
class _Group:
    family: str
    labels: tuple[tuple[str, str], ...]
    gauge: bool
    lines: list[P.Sample] = field(default_factory=list)


def flatten_text(text: str, openmetrics: bool, metadata: dict[str, P.Metadata], *, nhcb: bool = False,
                 keep_classic: bool = False, created: dict[int, int] | None = None) -> list[Flat]:
    """Every sample of a text exposition (classic histograms converted with ``nhcb``; created
    timestamps read into ``created`` when it is given); fills ``metadata``.  ``P.ParseError``
    names the line of a malformed one."""
    exp = P.parse(text, openmetrics)
    metadata.update(exp.metadata)
    types = {name: md.type for name, md in exp.metadata.items()}
    kinds = {name: t for name, t in types.items() if t in _PARTS} if nhcb else {}
    want_ct = created is not None and openmetrics
    stamps: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    chunks: list[list[P.Sample] | _Group] = []
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], _Group] = {}
    for s in exp.samples:
        if want_ct and s.name.endswith("_created") and types.get(s.name[:-8]) in _CREATED_TYPES:
            if not math.isnan(s.value):
                stamps[(s.name[:-8], s.labels)] = round(s.value * 1000)
            continue
        family = _histogram_family(s.name, kinds)
        if family is None:
            chunks.append([s])
            continue
        key_labels = tuple(p for p in s.labels if p[0] != "le") if s.name.endswith("_bucket") else s.labels
        g = groups.get((family, key_labels))
        if g is None:
            g = groups[(family, key_labels)] = _Group(family, key_labels, kinds[family] == "gaugehistogram")
            chunks.append(g)
        g.lines.append(s)
    out: list[Flat] = []
    for c in chunks:
        if isinstance(c, _Group):
            converted = _convert(c)
            if converted is not None:
                _stamp(stamps, created, len(out), c.family, c.labels)
                out.append(converted)
                if not keep_classic:
                    continue
            lines = c.lines
        else:
            lines = c
        for s in lines:
            if stamps:
                _stamp(stamps, created, len(out), _family_of(s.name, types), _series_key(s.labels))
            out.append((s.name, s.labels, s.value, s.timestamp_ms, s.exemplar))
    return out


def _stamp(stamps: dict[tuple[str, tuple[tuple[str, str], ...]], int], created: dict[int, int] | None,
           index: int, family: str, labels: tuple[tuple[str, str], ...]) -> None:
    ct = stamps.get((family, labels))
    if ct is not None and created is not None:
        created[index] = ct


def _series_key(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A sample's labels without ``le``/``quantile``: the label set its ``_created`` line has."""
    return tuple(p for p in labels if p[0] not in _SERIES_KEY_DROP)


def _family_of(name: str, types: dict[str, str]) -> str:
    if name in types:
        return name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in types:
            return name[: -len(suffix)]
    return name


def _histogram_family(name: str, kinds: dict[str, str]) -> str | None:
    """The histogram family (to convert) a sample line belongs to, if any."""
    for suffix in ("_bucket", "_count", "_sum", "_gcount", "_gsum"):
        if name.endswith(suffix):
            family = name[: -len(suffix)]
            kind = kinds.get(family)
            if kind is not None and suffix in _PARTS[kind]:
                return family
    return None


def _convert(g: _Group) -> Flat | None:
    bucket_suffix, count_suffix, sum_suffix = _PARTS["gaugehistogram" if g.gauge else "histogram"]
    buckets: list[tuple[float, float]] = []
    count: float | None = None
    total = 0.0
    exemplars: list[P.Exemplar] = []
    for s in g.lines:
        if s.name.endswith(bucket_suffix):
            le = dict(s.labels).get("le")
            try:
                bound = P.parse_float(le or "", 0, "le")
            except P.ParseError:
                return None
            buckets.append((bound, s.value))
            if s.exemplar is not None and s.exemplar.timestamp_ms is not None:
                exemplars.append(s.exemplar)
        elif s.name.endswith(count_suffix):
            count = s.value
        elif s.name.endswith(sum_suffix):
            total = s.value
    if any(math.isnan(b) for b, _ in buckets):
        return None
    try:
        h = from_classic(buckets, count, total, g.gauge)
    except HistogramError:
        return None
    return (g.family, g.labels, h, g.lines[0].timestamp_ms, exemplars or None)
