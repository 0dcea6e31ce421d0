"""Turn one scrape body into arrays of series refs and values: the scrape hot path.

A target exposes the same series scrape after scrape, so the part of each line before the
value (its *series text*) is remembered with the storage ref it resolved to (or -1 when
metric relabeling dropped it).  A steady-state line then costs one ``rpartition``, one
dictionary look-up and one ``float``; only unseen lines go through the strict parser, the
target-label merge, metric relabeling and the limit checks.  A cache hit is always correct:
its key is exactly a series text that was fully parsed and validated before.
"""

from __future__ import annotations

import contextlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING, Any, cast

from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.model import textparse as P
from guardia.model.escaping import is_legacy_metric_name
from guardia.model.histogram import FloatHistogram
from guardia.model.labels import is_valid_label_name
from guardia.model.relabel import process
from guardia.scrape.protoingest import Flat, HistogramOptions, ProtoSeriesError, flatten, om_float
from guardia.scrape.protoparse import ProtoParseError, decode_families
from guardia.scrape.seriescache import SeriesCache
from guardia.scrape.textflat import flatten_text
from guardia.storage.interface import Appender

if TYPE_CHECKING:  # numpy is imported by an Ingester that uses it (not an agent's: see ``Ingester``)
    import numpy as np
    import numpy.typing as npt

    from guardia.model.histcols import HistCols
    from guardia.scrape.fastpath import Parts, RepeatBody
    from guardia.scrape.protofast import ProtoRepeat

    Refs = npt.NDArray[np.int64] | array[int]
    Values = npt.NDArray[np.float64] | array[float]

_DROPPED = -1  # cache value: metric relabeling drops this series
_COMMENT = -2  # cache value: a comment line (checked against the full lines seen)
# While a scrape is read, a new series' ref is a placeholder ``_PENDING - k`` (k: its place
# among the scrape's new series); they get their refs in one ``ref_many`` at the end.
_PENDING = -3
_new_labels = tuple.__new__  # ``Labels.from_sorted`` of a new series' sorted pairs, inlined
_SIMPLE_SAMPLE = P.SIMPLE_SAMPLE.fullmatch
_SIMPLE_LABELS = P.SIMPLE_LABEL.findall


# le/quantile text → its OpenMetrics float text.  A scrape's buckets repeat a dozen bounds
# across hundreds of series, and formatting one costs ~1 µs; bounded, shared by all targets.
_BOUND_TEXT: dict[str, str] = {}
_BOUND_TEXT_MAX = 4096


def _bound_text(v: str) -> str:
    out = _BOUND_TEXT.get(v)
    if out is None:
        out = v
        if "_" not in v and v == v.strip():  # what Go's ParseFloat reads
            with contextlib.suppress(ValueError):  # not a number: kept as written, as in Prometheus
                out = om_float(float(v))
        if len(_BOUND_TEXT) >= _BOUND_TEXT_MAX:
            _BOUND_TEXT.clear()
        _BOUND_TEXT[v] = out
    return out


def _bound_family(name: str) -> tuple[str, str, str]:
    """The label a series of this name may write as a float, the family whose metadata
    decides it and the type that family must have: ``le`` of a histogram's ``_bucket``
    series (not a gaugehistogram's), ``quantile`` of a summary's.  Shared by
    ``Ingester._bound_label`` and the new-series shapes, which decide it once per text."""
    if name.endswith("_bucket"):
        return "le", name[:-7], "histogram"
    return "quantile", name, "summary"


# Series text → its ``_Shape``, for new series lines ``_plain_new`` has taken apart, shared by
# all targets: the targets of one job expose the same series texts, so when they start
# together (a restart, a deployment) the second and later read each text with one look-up
# instead of a regex match and a label scan (≈ 4 → 1.5 µs a new series).  Only what the text
# alone decides is kept, and what it decides together with a target's label names and its
# bound label (``_Shape.built``); the checks that depend on a target (its metadata, its
# format, the value) run on every line.  Bounded, and emptied by a scrape that brings no new
# series.
_SHAPES: dict[str, _Shape] = {}
_SHAPES_MAX = 8192


@dataclass(slots=True, eq=False)
class _Shape:
    name: str
    raw: tuple[tuple[str, str], ...]  # the scraped label pairs, as written
    trailing_comma: bool  # the braces end with ",}" (OpenMetrics refuses it)
    # the label a histogram's or summary's metadata would write as a float ("le" of a
    # ``_bucket`` series, "quantile" of another), when the text has it; else "" — and the
    # metadata that decides it: its family's name and the type it must have
    bound: str
    family: str
    kind: str
    # ``Ingester._layout[bound]`` → the final labels of this text for a target with those
    # label names, its labels' places left to fill (None: a label clashes with them)
    built: dict[str, tuple[list[tuple[str, str]], tuple[int, ...]] | None]


class ScrapeError(Exception):
    """The scrape failed as a whole (parse error, limit breached); ``up`` becomes 0."""


@dataclass(frozen=True, slots=True)
class IngestOptions:
    honor_labels: bool = False
    honor_timestamps: bool = True
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    metric_relabel: tuple[RelabelConfig, ...] = ()
    # metric_name_validation_scheme: legacy refuses UTF-8 names (Prometheus 3's default is utf8)
    legacy_names: bool = False


@dataclass(slots=True)
class IngestResult:
    refs: Refs  # numpy arrays, or Python arrays (``q``, ``d``) from a numpy-free Ingester
    values: Values
    scraped: int
    # Samples with their own timestamp (honor_timestamps): (ref, t_ms, value).
    timestamped: list[tuple[int, int, float]] = field(default_factory=list)
    duplicates: int = 0
    # OpenMetrics exemplars of this scrape: (final series labels, exemplar)
    exemplars: list[tuple[Labels, P.Exemplar]] = field(default_factory=list)
    # Native histogram samples (protobuf scrapes): (ref, own timestamp ms or None, histogram)
    histograms: list[tuple[int, int | None, FloatHistogram]] = field(default_factory=list)
    # Created timestamps (created-timestamp-zero-ingestion): (ref, created ms, the sample's
    # own timestamp or None, its histogram or None for a float)
    created: list[tuple[int, int, int | None, FloatHistogram | None]] = field(default_factory=list)
    # More native histograms at the scrape's time, as columns (a repeating protobuf body,
    # ``protohist``): their refs and ``model.histcols`` columns, for ``append_histograms``
    hist_batch: tuple[Any, HistCols] | None = None

    @property
    def post_relabel(self) -> int:
        return len(self.refs) + len(self.timestamped) + len(self.histograms) + self.batch_size

    @property
    def batch_size(self) -> int:
        return 0 if self.hist_batch is None else len(self.hist_batch[0])

    def all_histograms(self) -> list[tuple[int, int | None, FloatHistogram]]:
        """Every native histogram sample as (ref, own timestamp, object), by ref (tests
        compare the column path with the object path through it)."""
        out = list(self.histograms)
        if self.hist_batch is not None:
            refs, cols = self.hist_batch
            out += [(int(r), None, h) for r, h in zip(refs.tolist(), cols.objects().tolist(), strict=True)]
        return sorted(out, key=lambda x: x[0])


def merge_target_labels(
    scraped: list[tuple[str, str]], target: Sequence[tuple[str, str]], honor: bool
) -> dict[str, str]:
    """Attach target labels to a scraped series as Prometheus does.

    ``honor_labels: true`` keeps the scraped value on a clash; otherwise the scraped label
    is renamed ``exported_<name>`` (prefixing again while that name is taken) and the target
    label wins.
    """
    lb = dict(scraped)
    if honor:
        for k, v in target:
            if k not in lb:
                lb[k] = v
        return lb
    clashes = [(k, lb[k]) for k, _ in target if k in lb]
    for k, v in target:
        lb[k] = v
    if clashes:
        taken = set(lb) | {k for k, _ in target}
        for k, v in clashes:
            new = "exported_" + k
            while new in taken:
                new = "exported_" + new
            lb[new] = v
            taken.add(new)
    return lb


class Ingester:
    """Per-target parse-and-resolve state; one per scrape loop.

    ``numpy_free`` (an agent's store asks for it): results are Python arrays and numpy is never
    imported, at the cost of the two numpy shortcuts of a steady-state scrape (``fastpath``'s
    repeated body, ``SeriesCache.get_many``): every text scrape goes line by line, with the
    same results (``test_ingest_numpy_free`` compares the two).  A protobuf scrape imports
    numpy all the same (``protofast``)."""

    def __init__(self, target_labels: Sequence[tuple[str, str]], options: IngestOptions,
                 numpy_free: bool = False) -> None:
        self.target_labels = tuple((k, v) for k, v in target_labels if v)  # empty = absent
        self._target_names = frozenset(k for k, _ in self.target_labels) | {"__name__"}
        # the target's labels in name order, and for each bound label ("", "le", "quantile")
        # the key of the final-label templates for such a target in ``_Shape.built``
        self._target_sorted = tuple(sorted(self.target_labels))
        names = "\x00".join(k for k, _ in self._target_sorted)
        self._layout = {b: f"{names}\x01{b}" for b in ("", "le", "quantile")}
        self.options = options
        # No relabeling, limits, honor_labels or legacy names: a new series' final labels are
        # its scraped pairs, its name and the target's labels, sorted (see ``_plain_new``).
        self._plain_labels = not (options.legacy_names or options.metric_relabel or options.honor_labels
                                  or options.label_limit or options.label_name_length_limit
                                  or options.label_value_length_limit)
        self._cache = SeriesCache(numpy=not numpy_free)
        self._comments: set[str] = set()
        self._openmetrics: bool | None = None
        self._unique_refs: Refs | None = None
        self.metadata: dict[str, P.Metadata] = {}
        self.last_labels: Labels | None = None  # the label set ``resolve`` built last
        self.numpy_free = numpy_free
        # bodies repeating the last one's series: text (``fastpath``) and protobuf (``protofast``)
        self._repeat: RepeatBody | None = None
        self._proto_repeat: ProtoRepeat | None = None
        if not numpy_free:
            from guardia.scrape.fastpath import RepeatBody
            from guardia.scrape.protofast import ProtoRepeat

            self._repeat = RepeatBody()
            self._proto_repeat = ProtoRepeat()
        # protobuf scrapes: (name, scraped labels) → (ref, final labels)
        self._proto_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, Labels | None]] = {}

    def reset(self) -> None:
        self._proto_cache.clear()
        if self._proto_repeat is not None:
            self._proto_repeat.clear()
        self._cache.clear()
        self._comments.clear()
        self._unique_refs = None
        self._forget_repeat()

    def _forget_repeat(self) -> None:
        if self._repeat is not None:
            self._repeat.clear()

    def ingest_body(self, body: bytes, openmetrics: bool, app: Appender, scrape_ms: int) -> IngestResult:
        """``ingest`` for the raw body: a body whose series lines repeat the last scrape's
        (see ``fastpath``) has only its values read; any other is decoded and parsed."""
        parts = None
        if self._repeat is not None and self._cache and openmetrics is self._openmetrics:
            hit, parts = self._repeat.read(body)
            if hit is not None:
                if _SHAPES:
                    _SHAPES.clear()  # targets repeat their series: no new ones to read for now
                shape, values = hit
                return IngestResult(shape.refs, values, shape.scraped, [], shape.duplicates)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            line = body.count(b"\n", 0, e.start) + 1
            raise ScrapeError(f"line {line}: invalid UTF-8 in the exposition") from None
        return self.ingest(text, openmetrics, app, scrape_ms, parts)

    def ingest_proto(self, body: bytes, app: Appender, opts: HistogramOptions) -> IngestResult:
        """A protobuf exposition body (see ``protoingest``): floats resolved through the same
        label merge, relabeling and limits as text lines, native histograms beside them.
        The text path's caches are left alone: they key on series text, not on this."""
        self._forget_repeat()
        created: dict[int, int] | None = {} if opts.ct_zero else None
        repeat = self._proto_repeat
        try:
            families = decode_families(body)
            if repeat is None:  # numpy-free: no repeat shortcut, every body is read whole
                return self._ingest_flat(flatten(families, opts, self.metadata, created), app, created)
            hit, digest = repeat.match(body, families, opts, self.metadata)
            if hit is not None:  # the last scrape's series: only the values were read
                return IngestResult(**hit._asdict())
            flat = flatten(families, opts, self.metadata, created)
        except (ProtoParseError, ProtoSeriesError) as e:
            raise ScrapeError(str(e)) from None
        return cast(IngestResult, repeat.ingest_and_remember(
            digest, families, flat, created, opts, lambda f, c: self._ingest_flat(f, app, c)))

    def ingest_text_whole(
        self, body: bytes, openmetrics: bool, app: Appender, opts: HistogramOptions
    ) -> IngestResult:
        """A text body parsed whole (see ``textflat``: classic histograms converted to native
        ones, OpenMetrics created timestamps), then ingested as a protobuf body's samples are."""
        self._forget_repeat()
        created: dict[int, int] | None = {} if opts.ct_zero else None
        try:
            flat = flatten_text(body.decode("utf-8"), openmetrics, self.metadata, nhcb=opts.nhcb,
                                keep_classic=opts.keep_classic, created=created)
        except UnicodeDecodeError as e:
            line = body.count(b"\n", 0, e.start) + 1
            raise ScrapeError(f"line {line}: invalid UTF-8 in the exposition") from None
        except P.ParseError as e:
            raise ScrapeError(str(e)) from None
        norm = self._normalize_bounds
        return self._ingest_flat([(n, norm(n, lb), v, t, ex) for n, lb, v, t, ex in flat], app, created)

    def _ingest_flat(
        self, flat: list[Flat], app: Appender, created: dict[int, int] | None = None
    ) -> IngestResult:
        """Flattened samples (floats and native histograms) through the label merge,
        relabeling and limits of text lines; cached by (name, labels).  ``created``: the
        created timestamps of some of them, by index."""
        cache = self._proto_cache
        if len(cache) > 4 * (len(flat) + 64):
            cache.clear()  # series churn
        refs: list[int] = []
        vals: list[float] = []
        stamped: list[tuple[int, int, float]] = []
        hists: list[tuple[int, int | None, FloatHistogram]] = []
        exemplars: list[tuple[Labels, P.Exemplar]] = []
        seen_h: set[int] = set()
        dropped = dup_h = 0
        honor_ts = self.options.honor_timestamps
        cts: list[tuple[int, int, int | None, FloatHistogram | None]] = []
        for i, (name, labels, v, t, ex) in enumerate(flat):
            key = (name, labels)
            hit = cache.get(key)
            if hit is None:
                try:
                    ref = self.resolve(name, labels, app, 0)
                except ScrapeError as e:
                    raise ScrapeError(str(e).replace("line 0: ", f"metric {name!r}: ")) from None
                hit = cache[key] = (ref, self.last_labels if ref >= 0 else None)
            ref, lbls = hit
            if ref < 0:
                dropped += 1
                continue
            if created and i in created:
                hv = v if isinstance(v, FloatHistogram) else None
                cts.append((ref, created[i], t if honor_ts else None, hv))
            if ex is not None and lbls is not None:
                if isinstance(ex, list):
                    exemplars.extend((lbls, e) for e in ex)
                else:
                    exemplars.append((lbls, ex))
            t = t if honor_ts else None
            if isinstance(v, FloatHistogram):
                if ref in seen_h:
                    dup_h += 1
                    continue
                seen_h.add(ref)
                hists.append((ref, t, v))
            elif t is not None:
                stamped.append((ref, t, v))
            else:
                refs.append(ref)
                vals.append(v)
        ref_arr, val_arr = array("q", refs), array("d", vals)
        limit = self.options.sample_limit
        n = len(refs) + len(stamped) + len(hists)
        if limit and n > limit:
            raise ScrapeError(f"sample limit exceeded (number of samples: {n}, limit: {limit})")
        result, _ = self._finish(ref_arr, val_arr, stamped, dropped)
        result.scraped += len(hists) + dup_h
        result.duplicates += dup_h
        result.histograms = hists
        result.exemplars = exemplars
        result.created = cts
        return result

    def resolve(self, name: str, scraped: tuple[tuple[str, str], ...], app: Appender, lineno: int) -> int:
        """Final labels for a scraped series → its ref, or -1 when relabeling drops it."""
        labels = self.final_labels(name, scraped, lineno)
        return _DROPPED if labels is None else app.ref(labels)

    def final_labels(self, name: str, scraped: tuple[tuple[str, str], ...], lineno: int) -> Labels | None:
        """The label set a scraped series is stored under, or None when relabeling drops it."""
        o = self.options
        if o.legacy_names:
            self._check_legacy(name, scraped, lineno)
        if not o.metric_relabel and not o.honor_labels and not o.label_limit:
            # Common case: no relabeling and no clash with target labels, so the final
            # label set is the scraped pairs plus the target's, sorted once.
            pairs = [p for p in scraped if p[1]]
            if self._target_names.isdisjoint([k for k, _ in pairs]):
                pairs.append(("__name__", name))
                pairs.extend(self.target_labels)
                pairs.sort()
                if o.label_name_length_limit or o.label_value_length_limit:
                    self._check_names(dict(pairs), name, lineno)
                self.last_labels = Labels.from_sorted(pairs)
                return self.last_labels
        lb = merge_target_labels([("__name__", name), *scraped], self.target_labels, o.honor_labels)
        if o.metric_relabel:
            out = process(lb, o.metric_relabel)
            if out is None:
                return None
        if not lb:
            return None
        if not lb.get("__name__"):
            raise ScrapeError(f"line {lineno}: missing metric name (__name__ label) after relabeling")
        if o.label_limit and len(lb) > o.label_limit:
            raise ScrapeError(
                f"label_limit exceeded (metric: {name}, number of labels: {len(lb)}, limit: {o.label_limit})"
            )
        if o.label_name_length_limit or o.label_value_length_limit or o.metric_relabel:
            self._check_names(lb, name, lineno)
        self.last_labels = Labels(lb)
        return self.last_labels

    def _check_names(self, lb: dict[str, str], name: str, lineno: int) -> None:
        o = self.options
        for k, v in lb.items():
            if o.label_name_length_limit and len(k) > o.label_name_length_limit:
                raise ScrapeError(
                    f"label_name_length_limit exceeded (metric: {name}, label name: {k}, "
                    f"limit: {o.label_name_length_limit})"
                )
            if o.label_value_length_limit and len(v) > o.label_value_length_limit:
                raise ScrapeError(
                    f"label_value_length_limit exceeded (metric: {name}, label name: {k}, "
                    f"value: {v[:40]!r}, limit: {o.label_value_length_limit})"
                )
            if not k or (o.legacy_names and not is_valid_label_name(k)):
                raise ScrapeError(f"line {lineno}: invalid label name {k!r} after relabeling")

    @staticmethod
    def _check_legacy(name: str, scraped: tuple[tuple[str, str], ...], lineno: int) -> None:
        if not is_legacy_metric_name(name):
            raise ScrapeError(f"line {lineno}: {name!r} is not a legacy metric name and the job's "
                              "metric_name_validation_scheme is legacy")
        for k, _ in scraped:
            if not is_valid_label_name(k):
                raise ScrapeError(f"line {lineno}: label name {k!r} is not a legacy label name and the "
                                  "job's metric_name_validation_scheme is legacy")

    def ingest(
        self,
        text: str,
        openmetrics: bool,
        app: Appender,
        scrape_ms: int,
        parts: Parts | None = None,
    ) -> IngestResult:
        """Parse ``text`` into refs/values; raises ``ScrapeError`` naming the line on bad input.
        ``parts`` is ``fastpath.split`` of the same body, when the caller made it: a scrape
        resolved wholly from the cache then leaves its shape for the next one."""
        self._forget_repeat()
        if openmetrics is not self._openmetrics:
            self.reset()
            self._openmetrics = openmetrics
        lines = text.split("\n")
        if len(self._cache) > 4 * (len(lines) + 64):
            self.reset()  # series churn: forget series texts that no longer appear
        if openmetrics:
            try:
                P.check_eof(lines)
            except P.ParseError as e:
                raise ScrapeError(str(e)) from None
        if lines and lines[-1] == "":
            lines.pop()
        try:
            return self._ingest_lines(lines, openmetrics, app, parts)
        finally:
            self._cache.settle()

    def _ingest_lines(
        self,
        lines: list[str],
        openmetrics: bool,
        app: Appender,
        parts: Parts | None,
    ) -> IngestResult:
        """``ingest`` after the checks of the whole text (the cache settles after it)."""
        fast = None if self.numpy_free else self._fast(lines, openmetrics)
        if fast is not None:
            if _SHAPES:
                _SHAPES.clear()  # every series known: its target repeats them (see _SHAPES)
            result, keep = self._finish(fast[0], fast[1], [], fast[2])
            if parts is not None and self._repeat is not None:
                self._repeat.remember(parts, fast[3], keep, cast("npt.NDArray[np.int64]", result.refs),
                                      result.scraped, fast[2], result.duplicates)
            return result
        cache = self._cache
        # a new series' placeholder goes into the view only (``_settle`` puts its ref in)
        cache_view = cache.view()
        cache_get = cache_view.get
        plain = self._plain_labels
        shapes_get = _SHAPES.get
        refs: list[int] = []
        vals: list[float] = []
        ra = refs.append
        va = vals.append
        stamped: list[tuple[int, int, float]] = []
        exemplars: list[tuple[Labels, P.Exemplar]] = []
        dropped = 0
        honor_ts = self.options.honor_timestamps
        new_sets: list[Labels] = []  # this scrape's new series, in line order
        new_keys: list[str] = []  # and their series texts
        try:
            for lineno, line in enumerate(lines, 1):
                key, _, val = line.rpartition(" ")
                ref = cache_get(key)
                if ref is not None:
                    if ref >= 0:
                        ra(ref)
                        va(float(val) if "_" not in val else P.parse_float(val, lineno))
                    elif ref == _DROPPED:
                        dropped += 1
                    elif ref == _COMMENT:
                        self._comment(line, lineno, openmetrics)
                    else:  # a series first seen earlier in this scrape
                        ra(ref)
                        va(float(val) if "_" not in val else P.parse_float(val, lineno))
                    continue
                if not line:
                    continue
                if line[0] == "#":
                    self._comment(line, lineno, openmetrics)
                    continue
                if key:
                    shape = shapes_get(key) if plain else None
                    if shape is not None:  # a series text: no timestamp after the value
                        got = self._plain_shaped(shape, val, openmetrics)
                        if got is not None:
                            ref = cache_view[key] = _PENDING - len(new_sets)
                            new_sets.append(got[0])
                            new_keys.append(key)
                            ra(ref)
                            va(got[1])
                            continue
                    # The line may carry a timestamp after the value.
                    key2, _, val2 = key.rpartition(" ")
                    ref = cache_get(key2)
                    if ref is not None and not (openmetrics and " # " in line):
                        if _PENDING < ref < 0:
                            dropped += 1
                            continue
                        v = P.parse_float(val2, lineno)
                        if honor_ts:
                            ts = P.parse_ts(val, lineno, openmetrics)
                            stamped.append((ref, ts, v))
                        else:
                            ra(ref)
                            va(v)
                        continue
                if plain:
                    got = self._plain_new(line, key, val, openmetrics)
                    if got is not None:
                        ref = cache_view[key] = _PENDING - len(new_sets)
                        new_sets.append(got[0])
                        new_keys.append(key)
                        ra(ref)
                        va(got[1])
                        continue
                s = P.parse_sample(line, lineno, openmetrics)
                labels = s.labels
                if labels and (s.name.endswith("_bucket") or s.name in self.metadata):
                    labels = self._normalize_bounds(s.name, labels)
                final = self.final_labels(s.name, labels, lineno)
                key = line[: s.series_end]
                if final is None:
                    self._cache[key] = _DROPPED
                    dropped += 1
                    continue
                ref = cache_view[key] = _PENDING - len(new_sets)
                new_sets.append(final)
                new_keys.append(key)
                if s.exemplar is not None:
                    exemplars.append((final, s.exemplar))
                if s.timestamp_ms is not None and honor_ts:
                    stamped.append((ref, s.timestamp_ms, s.value))
                else:
                    ra(ref)
                    va(s.value)
            made = self._settle(new_sets, new_keys, app)
        except P.ParseError as e:
            self._settle(new_sets, new_keys, app)
            raise ScrapeError(str(e)) from None
        except ValueError:
            self._settle(new_sets, new_keys, app)
            # float() refused the value of a known series: let the strict parser say why.
            lineno = len(refs) + 1
            for i, line in enumerate(lines, 1):
                if line and line[0] != "#":
                    try:
                        P.parse_sample(line, i, openmetrics)
                    except P.ParseError as e:
                        raise ScrapeError(str(e)) from None
            raise ScrapeError(f"line {lineno}: invalid sample value") from None
        except BaseException:
            # The series read before the error are created, as line by line they were, and
            # the cache never keeps a placeholder.
            self._settle(new_sets, new_keys, app)
            raise
        if not made and _SHAPES:
            _SHAPES.clear()  # a scrape with no new series: its target repeats them (see _SHAPES)
        if made:
            refs = [made[_PENDING - r] if r <= _PENDING else r for r in refs]
            if stamped:
                stamped = [(made[_PENDING - r] if r <= _PENDING else r, t, v) for r, t, v in stamped]
        result, _ = self._finish(array("q", refs), array("d", vals), stamped, dropped)
        result.exemplars = exemplars
        return result

    def _plain_new(self, line: str, key: str, value: str, openmetrics: bool) -> tuple[Labels, float] | None:
        """Final labels and value of a new series line of the common shape (a name, plain
        label pairs, a value; no timestamp, exemplar, escape, empty value or clash with a
        target label) for a job with ``_plain_labels``: one regex match, where the general
        way builds a ``Sample`` and merges the labels in ``final_labels``.  ``key`` and
        ``value``: the line cut at its last space.  None sends the line the general way,
        which reads everything else and names any error; a line taken here gives what that
        way gives (test_fastpath compares the two)."""
        shape = _SHAPES.get(key)
        if shape is None:
            m = _SIMPLE_SAMPLE(line)
            if m is None:
                return None
            name, braces, value, ts = m.groups()
            if ts is not None:
                return None
            raw: tuple[tuple[str, str], ...] = ()
            if braces:
                if "\\" in braces:
                    return None
                raw = tuple(_SIMPLE_LABELS(braces))
                names = dict(raw)
                if len(names) != len(raw) or "" in names.values():
                    return None
            bound, family, kind = _bound_family(name)
            if bound not in dict(raw):
                bound = ""
            # ``key`` is the name and braces here: a line of this text with any value
            # that the pattern takes (no space, tab or "#") is taken apart the same way.
            if len(_SHAPES) >= _SHAPES_MAX:
                _SHAPES.clear()
            trailing_comma = braces.endswith(",}") if braces else False
            shape = _SHAPES[key] = _Shape(name, raw, trailing_comma, bound, family, kind, {})
        return self._plain_shaped(shape, value, openmetrics)

    def _plain_shaped(self, shape: _Shape, value: str, openmetrics: bool) -> tuple[Labels, float] | None:
        """``_plain_new`` of a line whose text is taken apart (``shape``) and whose value
        the pattern takes.  The final labels are the scraped pairs (the bound label, if
        the metadata says so, written as a float), the name and the target's labels,
        sorted: the same for every target with these label names, so they are sorted once
        per text and such targets (``_Shape.built``), and each fills in its labels' values."""
        if not value or "\t" in value or "#" in value:
            return None  # what the pattern's value refuses: the general way says why
        if "_" in value or (openmetrics and shape.trailing_comma):
            return None
        try:
            v = float(value)
        except ValueError:
            return None
        bound = shape.bound
        if bound:  # the metadata decides (``_bound_label``)
            md = self.metadata.get(shape.family)
            if md is None or md.type != shape.kind:
                bound = ""
        layout = self._layout[bound]
        try:
            built = shape.built[layout]
        except KeyError:
            built = shape.built[layout] = self._template(shape, bound)
        if built is None:
            return None
        template, places = built
        pairs = template.copy()
        tl = self._target_sorted
        if len(tl) == 2:  # instance and job, most often: no loop
            pairs[places[0]] = tl[0]
            pairs[places[1]] = tl[1]
        else:
            for at, pair in zip(places, tl, strict=True):
                pairs[at] = pair
        return _new_labels(Labels, pairs), v  # ``Labels.from_sorted`` without its call

    def _template(self, shape: _Shape, bound: str) -> tuple[list[tuple[str, str]], tuple[int, ...]] | None:
        """A text's final labels for targets with this one's label names, and the places of
        the target's labels in them (filled with this target's); None when a scraped label
        has a target label's name (the general way renames it)."""
        pairs = list(shape.raw)
        if not self._target_names.isdisjoint([k for k, _ in pairs]):
            return None
        if bound:
            for i, (k, val) in enumerate(pairs):
                if k == bound:  # names are unique here: the only one
                    pairs[i] = (k, _bound_text(val))
                    break
        pairs.append(("__name__", shape.name))
        pairs.extend(self._target_sorted)
        pairs.sort()
        return pairs, tuple(pairs.index(p) for p in self._target_sorted)

    def _settle(self, new_sets: list[Labels], new_keys: list[str], app: Appender) -> list[int]:
        """Refs for a scrape's new series, all in one call when the appender can (the
        series are created, and logged, in line order as one at a time would be), and
        their series texts cached with them."""
        if not new_sets:
            return []
        cache = self._cache
        try:
            many = getattr(app, "ref_many", None)
            made: list[int] = many(new_sets) if many is not None else [app.ref(lb) for lb in new_sets]
        except BaseException:
            cache.forget_view(new_keys)
            raise
        cache.update(new_keys, made)
        new_sets.clear()  # settled: a second call (error path) does nothing
        new_keys.clear()
        return made

    def _fast(
        self, lines: list[str], openmetrics: bool
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int, npt.NDArray[np.int64]] | None:
        """The steady state: every line's series text is known.  None sends the scrape to the
        line-by-line path (new series, timestamps, a bad value: it names the line).  Returns
        the resolved refs, their values, how many lines were dropped, and the cache's answer
        for every line.  Not for a ``numpy_free`` Ingester."""
        import numpy as np

        if not self._cache:
            return None
        parts = [ln.rpartition(" ") for ln in lines]
        ra = self._cache.get_many([p[0] for p in parts])
        if ra is None:
            return None
        mask = ra >= 0
        if not mask.all():
            for i in np.flatnonzero(ra == _COMMENT).tolist():
                if lines[i] not in self._comments:
                    try:  # a known comment's words changed ("# TYPE m gaugex"): name the line
                        self._comment(lines[i], i + 1, openmetrics)
                    except P.ParseError as e:
                        raise ScrapeError(str(e)) from None
        texts = list(compress([p[2] for p in parts], mask.tolist()))
        if "_" in "".join(texts):
            return None
        try:
            values = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
        except ValueError:
            return None
        return ra[mask], values, int(np.count_nonzero(ra == _DROPPED)), ra

    def _finish(
        self,
        ref_arr: Refs,
        val_arr: Values,
        stamped: list[tuple[int, int, float]],
        dropped: int,
    ) -> tuple[IngestResult, npt.NDArray[np.intp] | None]:
        """The result, and which of the lines survived the duplicate check (None: all).
        ``ref_arr`` and ``val_arr`` are numpy arrays or Python arrays (``q``, ``d``); the result
        holds numpy arrays, or Python arrays for a ``numpy_free`` Ingester."""
        scraped = len(ref_arr) + len(stamped) + dropped
        if self.numpy_free:
            ref_arr, val_arr, dups = self._unique_plain(_plain(ref_arr, "q"), _plain(val_arr, "d"))
            keep = None
        else:
            ref_arr, val_arr, dups, keep = self._unique_numpy(ref_arr, val_arr)
        limit = self.options.sample_limit
        if limit and len(ref_arr) + len(stamped) > limit:
            raise ScrapeError(
                f"sample limit exceeded (number of samples: {len(ref_arr) + len(stamped)}, limit: {limit})"
            )
        return IngestResult(ref_arr, val_arr, scraped, stamped, dups), keep

    def _unique_numpy(
        self, refs: Refs, vals: Values
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int, npt.NDArray[np.intp] | None]:
        """A scrape's samples without the later lines of a series exposed twice: the refs, the
        values, how many went, and which positions stayed (None: all)."""
        import numpy as np

        ref_arr = np.asarray(refs, dtype=np.int64)  # a Python array's buffer, not copied
        val_arr = np.asarray(vals, dtype=np.float64)
        if self._unique_refs is not None and np.array_equal(ref_arr, self._unique_refs):
            return ref_arr, val_arr, 0, None  # same series in the same order as a checked scrape
        if ref_arr.size > 1:
            uniq, first = np.unique(ref_arr, return_index=True)
            if uniq.size != ref_arr.size:
                keep = np.sort(first)
                return ref_arr[keep], val_arr[keep], int(ref_arr.size - uniq.size), keep
            self._unique_refs = ref_arr
        return ref_arr, val_arr, 0, None

    def _unique_plain(self, refs: array[int], vals: array[float]) -> tuple[array[int], array[float], int]:
        """``_unique_numpy`` without numpy (the first line of a series stays, in line order)."""
        if self._unique_refs is not None and refs == self._unique_refs:
            return refs, vals, 0
        if len(refs) > 1:
            if len(set(refs)) != len(refs):
                seen: set[int] = set()
                keep = [i for i, r in enumerate(refs) if not (r in seen or seen.add(r))]  # type: ignore[func-returns-value]
                return (array("q", map(refs.__getitem__, keep)), array("d", map(vals.__getitem__, keep)),
                        len(refs) - len(keep))
            self._unique_refs = refs
        return refs, vals, 0

    def _normalize_bounds(
        self, name: str, labels: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, str], ...]:
        """``le`` of a histogram's ``_bucket`` series and ``quantile`` of a summary's, written as
        OpenMetrics floats (``le="1"`` → ``le="1.0"``), as Prometheus 3 stores them whatever
        the format: a target keeps its series when it moves between text and protobuf."""
        key = self._bound_label(name)
        if not key:
            return labels
        return tuple([(k, _bound_text(v)) if k == key else (k, v) for k, v in labels])

    def _bound_label(self, name: str) -> str:
        """The label written as a float: ``le`` of a histogram's ``_bucket`` series,
        ``quantile`` of a summary's, else ""."""
        bound, family, kind = _bound_family(name)
        md = self.metadata.get(family)
        return bound if md is not None and md.type == kind else ""

    def _comment(self, line: str, lineno: int, openmetrics: bool) -> None:
        if line in self._comments:
            return
        c = P.parse_comment(line, lineno, openmetrics)
        if c.kind in ("HELP", "TYPE", "UNIT"):
            P.apply_comment(self.metadata, c)
        self._comments.add(line)
        self._cache[line.rpartition(" ")[0]] = _COMMENT


def _plain(a: Refs | Values, code: str) -> array[Any]:
    """``a`` as a Python array of type ``code``, itself when it is one already."""
    return a if isinstance(a, array) and a.typecode == code else array(code, a)
