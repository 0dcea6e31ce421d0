"""A protobuf body whose series repeat the last scrape's: only its values are read.

A protobuf target, like a text one, returns the same metrics scrape after scrape with other
values.  The full path (``protoingest.flatten`` then ``Ingester._ingest_flat``) builds every
series' name and label tuple from the upb objects and looks each up in the per-target cache:
about 5 ms for 2,400 samples.  Here the body is decoded a second time, by upb, with a
*skeleton* message class: the same field numbers as ``metrics.proto`` minus every value
(counter, gauge and untyped values, counts, sums, quantile values, native bucket counts), so
``DiscardUnknownFields`` drops the values in C and what serializes back is the body's
structure: family names, types, help and units, every metric's label pairs in order, timestamps,
created timestamps, exemplars whole, bucket bounds, quantile ranks, native schemas, zero
thresholds and spans.  When its SHA-256 digest equals the last remembered scrape's, the refs,
drops, duplicates, exemplars and created timestamps are that scrape's, and only the values are
read (one attribute read per value) into a float list indexed as ``flatten``'s output.

Native histograms are still built per metric (their buckets are values), as are the
``convert_classic_histograms_to_nhcb`` conversions; which histograms are native or converted
depends on values too (a zero count makes a histogram native; non-cumulative buckets are not
converted), so those decisions are part of the match.  Anything that cannot be answered
exactly here (a changed skeleton, other options, a decision that differs, an invalid native
histogram) goes the full path, which names the error.

The mapping from ``flatten``'s order to the result's is taken from the full path itself: the
scrape that is remembered is ingested with each float sample's value replaced by its index in
``flatten``'s output, so the values that come out are the indexes (drops, duplicates and the
split into timestamped samples applied by the same code that always applies them), and the
real values are put back by those indexes.  Before a shape is kept, the value reader is run on
the same families and must give ``flatten``'s values bit for bit.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model import textparse as P
from guardia.model.histcols import HistCols
from guardia.model.histogram import FloatHistogram
from guardia.model.protodesc import add_message
from guardia.model.varint import read_varint
from guardia.scrape.protohist import NativePlan
from guardia.scrape.protoingest import (
    _TYPE_NAMES,
    Flat,
    HistogramOptions,
    ProtoSeriesError,
    _nhcb,
    is_native,
    limit_buckets,
    native_histogram,
)
from guardia.scrape.protoparse import COUNTER, GAUGE, GAUGE_HISTOGRAM, SUMMARY, UNTYPED

_Created = list[tuple[int, int, "int | None", "FloatHistogram | None"]]


class Replay(NamedTuple):
    """The fields of ``IngestResult``, in its order (this module does not import ``ingest``)."""

    refs: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    scraped: int
    timestamped: list[tuple[int, int, float]]
    duplicates: int
    exemplars: list[tuple[Labels, P.Exemplar]]
    histograms: list[tuple[int, int | None, FloatHistogram]]
    created: _Created
    # native histograms at the scrape's time as columns (``protohist``): refs, histograms
    hist_batch: tuple[npt.NDArray[np.int64], HistCols] | None = None


@functools.cache
def skeleton_class() -> Any:
    """``Body { repeated MetricFamily family = 1; }`` over value-less copies of metrics.proto's
    messages (own pool and package: ``protoparse``'s classes are untouched)."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="guardia_skeleton.proto", package="guardia.skeleton",
                                            syntax="proto2")
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    d, s, i64, i32, s32, u32, m = (F.TYPE_DOUBLE, F.TYPE_STRING, F.TYPE_INT64, F.TYPE_INT32,
                                   F.TYPE_SINT32, F.TYPE_UINT32, F.TYPE_MESSAGE)

    msg = functools.partial(add_message, fd, ".guardia.skeleton.")

    msg("Timestamp", [("seconds", 1, i64, opt, ""), ("nanos", 2, i32, opt, "")])
    msg("LabelPair", [("name", 1, s, opt, ""), ("value", 2, s, opt, "")])
    msg("Exemplar", [("label", 1, m, rep, "LabelPair"), ("value", 2, d, opt, ""),
                     ("timestamp", 3, m, opt, "Timestamp")])
    msg("Counter", [("exemplar", 2, m, opt, "Exemplar"), ("created_timestamp", 3, m, opt, "Timestamp")])
    msg("Quantile", [("quantile", 1, d, opt, "")])
    msg("Summary", [("quantile", 3, m, rep, "Quantile"), ("created_timestamp", 4, m, opt, "Timestamp")])
    msg("Bucket", [("upper_bound", 2, d, opt, ""), ("exemplar", 3, m, opt, "Exemplar")])
    msg("BucketSpan", [("offset", 1, s32, opt, ""), ("length", 2, u32, opt, "")])
    msg("Histogram", [
        ("bucket", 3, m, rep, "Bucket"), ("created_timestamp", 15, m, opt, "Timestamp"),
        ("schema", 5, s32, opt, ""), ("zero_threshold", 6, d, opt, ""),
        ("negative_span", 9, m, rep, "BucketSpan"), ("positive_span", 12, m, rep, "BucketSpan"),
        ("exemplars", 16, m, rep, "Exemplar"),
    ])
    msg("Metric", [("label", 1, m, rep, "LabelPair"), ("counter", 3, m, opt, "Counter"),
                   ("summary", 4, m, opt, "Summary"), ("histogram", 7, m, opt, "Histogram"),
                   ("timestamp_ms", 6, i64, opt, "")])
    msg("MetricFamily", [("name", 1, s, opt, ""), ("help", 2, s, opt, ""), ("type", 3, i32, opt, ""),
                         ("metric", 4, m, rep, "Metric"), ("unit", 5, s, opt, "")])
    msg("Body", [("family", 1, m, rep, "MetricFamily")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("guardia.skeleton.Body"))


def skeleton_digest(body: bytes) -> bytes:
    """SHA-256 of the body's structure (see the module's docstring).  The delimited families
    become one ``Body`` message by a field-1 tag before each length prefix, so upb decodes,
    discards and serializes the whole body in three calls.  The body was already decoded
    whole by ``decode_families``, so its framing is known to be sound."""
    parts: list[bytes | memoryview] = [b""]
    view = memoryview(body)
    pos, n = 0, len(body)
    while pos < n:
        size, start = read_varint(body, pos)
        parts.append(view[pos:start + size])
        pos = start + size
    skel = skeleton_class().FromString(b"\x0a".join(parts))
    skel.DiscardUnknownFields()
    return hashlib.sha256(skel.SerializeToString(deterministic=True)).digest()


def read_values(
    families: Sequence[Any], opts: HistogramOptions, has_inf: Sequence[bool] | None,
    natives: list[tuple[int, Any, bool]] | None = None,
) -> tuple[list[float], dict[int, FloatHistogram], list[str], list[bool]] | None:
    """Every float value in ``flatten``'s order (0.0 where ``flatten`` has a histogram), the
    histograms by that index, the kind of each histogram metric (``n`` native, ``h``
    converted to NHCB, ``c`` classic only) and whether each classic histogram had a ``+Inf``
    bucket (taken from ``has_inf``, the remembered answer, when given: bounds are part of the
    skeleton).  None when a native histogram is invalid (the full path names it).

    With ``natives`` given, native histograms are not built: each one's (flat index,
    protobuf ``Histogram``, whether it is a gauge histogram) is appended to it instead, for
    ``protohist`` to read as columns."""
    out: list[float] = []
    add = out.append
    ext = out.extend
    hists: dict[int, FloatHistogram] = {}
    kinds: list[str] = []
    infs: list[bool] = []
    classic_no = 0
    for mf in families:
        typ = int(mf.type)
        metrics = mf.metric
        if typ == COUNTER:
            ext([m.counter.value for m in metrics])
        elif typ == GAUGE:
            ext([m.gauge.value for m in metrics])
        elif typ == UNTYPED:
            ext([m.untyped.value for m in metrics])
        elif typ == SUMMARY:
            for m in metrics:
                s = m.summary
                add(float(s.sample_count))
                add(s.sample_sum)
                ext([q.value for q in s.quantile])
        else:
            gauge = typ == GAUGE_HISTOGRAM
            for m in metrics:
                h = m.histogram
                if opts.native and is_native(h):
                    kinds.append("n")
                    if natives is not None:
                        natives.append((len(out), h, gauge))
                    else:
                        try:
                            hists[len(out)] = limit_buckets(native_histogram(h, gauge, ""), opts, "")
                        except ProtoSeriesError:
                            return None
                    add(0.0)
                    if not (opts.keep_classic and len(h.bucket)):
                        continue
                elif opts.nhcb and len(h.bucket):
                    converted = _nhcb(h, gauge)
                    if converted is not None:
                        kinds.append("h")
                        hists[len(out)] = converted
                        add(0.0)
                        if not opts.keep_classic:
                            continue
                    else:
                        kinds.append("c")
                else:
                    kinds.append("c")
                count = float(h.sample_count_float) if h.sample_count_float > 0 else float(h.sample_count)
                add(count)
                add(h.sample_sum)
                buckets = h.bucket
                ext([cf if (cf := b.cumulative_count_float) > 0 else float(b.cumulative_count)
                     for b in buckets])
                if has_inf is None:
                    inf = math.inf in [b.upper_bound for b in buckets]
                    infs.append(inf)
                elif classic_no < len(has_inf):
                    inf = has_inf[classic_no]
                else:
                    return None  # more classic histograms than remembered: a decision changed
                classic_no += 1
                if not inf:
                    add(count)
    return out, hists, kinds, infs


@dataclass(slots=True)
class _Shape:
    digest: bytes
    opts: HistogramOptions
    kinds: list[str]
    has_inf: list[bool]
    take: npt.NDArray[np.intp] | None  # flat index of each result value (None: all, in order)
    refs: npt.NDArray[np.int64]
    scraped: int
    duplicates: int
    stamped: list[tuple[int, int, int]]  # (ref, t, flat index)
    hists: list[tuple[int, int | None, int]]  # (ref, t, flat index)
    exemplars: list[tuple[Labels, P.Exemplar]]
    created: list[tuple[int, int, int | None, int]]  # (ref, ct, t, flat index of its histogram or -1)
    families: list[tuple[str, str, str, str]]  # metadata: name, type, help, unit
    # native histograms read as columns (None: as objects, every one in ``hists``)
    plan: NativePlan | None = None
    batch_refs: npt.NDArray[np.int64] | None = None  # refs of the columns' histograms
    batch_pick: npt.NDArray[np.intp] | None = None  # their positions among the plan's
    rest: list[tuple[int, int | None, int]] | None = None  # ``hists`` not in the columns


def _same_bits(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and bool(np.array_equal(np.array(a, dtype=np.float64).view(np.int64),
                                                    np.array(b, dtype=np.float64).view(np.int64)))


class ProtoRepeat:
    """Per target: the last protobuf scrape's skeleton digest and what it resolved to."""

    __slots__ = ("hits", "misses", "shape", "wait")

    def __init__(self) -> None:
        self.shape: _Shape | None = None
        self.hits = 0  # scrapes answered here (tests and profiles read it)
        # A target whose structure changes every scrape (timestamps, exemplars that move)
        # would pay the skeleton and the remembering on every scrape for no hit: after a
        # remembered shape misses, the next ``wait`` scrapes go straight to the full path,
        # a wait that doubles with each miss in a row (up to 32 scrapes) and ends at a hit.
        self.misses = 0
        self.wait = 0

    def clear(self) -> None:
        self.shape = None
        self.wait = 0

    def match(self, body: bytes, families: Sequence[Any], opts: HistogramOptions,
              metadata: dict[str, P.Metadata]) -> tuple[Replay | None, bytes]:
        """This scrape's result when its skeleton is the remembered one (else None), and the
        skeleton's digest for ``ingest_and_remember`` (empty: do not remember this one)."""
        if self.wait:
            self.wait -= 1
            return None, b""
        digest = skeleton_digest(body)
        sh = self.shape
        if sh is None:
            return None, digest
        same = digest == sh.digest and opts == sh.opts
        cols: HistCols | None = None
        got = None
        if same and sh.plan is not None:
            natives: list[tuple[int, Any, bool]] = []
            got = read_values(families, opts, sh.has_inf, natives)
            if got is not None and got[2] == sh.kinds:
                cols = sh.plan.columns([h for _, h, _ in natives])
            if cols is None:  # values the columns do not take: objects (which validate them)
                got = read_values(families, opts, sh.has_inf)
        elif same:
            got = read_values(families, opts, sh.has_inf)
        if got is None or got[2] != sh.kinds:
            self.shape = None
            self.wait = min(1 << self.misses, 32)
            self.misses += 1
            return None, b""
        self.misses = 0
        vals, hists, _, _ = got
        arr = np.array(vals, dtype=np.float64)
        for name, typ, help_, unit in sh.families:
            md = metadata.get(name)
            if md is None:
                md = metadata[name] = P.Metadata()
            md.type, md.help, md.unit = typ, help_, unit
        self.hits += 1
        batch = None
        objs = sh.hists
        if cols is not None and sh.rest is not None:
            assert sh.batch_refs is not None and sh.batch_pick is not None
            batch = (sh.batch_refs, cols.take(sh.batch_pick)) if sh.batch_refs.size else None
            objs = sh.rest
        return Replay(
            sh.refs, arr if sh.take is None else arr[sh.take], sh.scraped,
            [(r, t, vals[i]) for r, t, i in sh.stamped], sh.duplicates,
            sh.exemplars, [(r, t, hists[i]) for r, t, i in objs],
            [(r, ct, t, hists[i] if i >= 0 else None) for r, ct, t, i in sh.created], batch,
        ), digest

    def ingest_and_remember(
        self,
        digest: bytes,
        families: Sequence[Any],
        flat: list[Flat],
        created: dict[int, int] | None,
        opts: HistogramOptions,
        ingest_flat: Callable[[list[Flat], dict[int, int] | None], Any],
    ) -> Any:
        """The full path's result for ``flat`` (``ingest_flat`` is ``Ingester._ingest_flat``),
        its shape remembered for the next scrape when the value reader agrees with it (and
        ``digest`` is not empty)."""
        self.shape = None
        if not digest:
            return ingest_flat(flat, created)
        # flatten writes every float sample's value as a ``float``, every other as a histogram
        indexed: list[Flat] = [(n, lb, float(i), t, ex) if type(v) is float else (n, lb, v, t, ex)
                               for i, (n, lb, v, t, ex) in enumerate(flat)]
        vals = [v if type(v) is float else 0.0 for _, _, v, _, _ in flat]
        hist_at = {id(v): i for i, (_, _, v, _, _) in enumerate(flat) if type(v) is not float}
        result = ingest_flat(indexed, created)
        take = result.values.astype(np.intp)
        arr = np.array(vals, dtype=np.float64)
        result.values = arr[take]
        stamped = [(r, t, int(i)) for r, t, i in result.timestamped]
        result.timestamped = [(r, t, vals[i]) for r, t, i in stamped]
        got = read_values(families, opts, None)
        if got is not None and _same_bits(got[0], vals) and got[1].keys() == set(hist_at.values()):
            whole = take.size == len(vals) and bool((take == np.arange(take.size)).all())
            self.shape = _Shape(
                digest, opts, got[2], got[3], None if whole else take, result.refs, result.scraped,
                result.duplicates, stamped,
                [(r, t, hist_at[id(h)]) for r, t, h in result.histograms], list(result.exemplars),
                [(r, ct, t, hist_at[id(h)] if h is not None else -1) for r, ct, t, h in result.created],
                [(mf.name, _TYPE_NAMES[int(mf.type)], mf.help, mf.unit) for mf in families],
            )
            if opts.native and not self.shape.created:
                _plan_columns(self.shape, families, opts, got[1])
        return result


def _plan_columns(sh: _Shape, families: Sequence[Any], opts: HistogramOptions,
                  hists: dict[int, FloatHistogram]) -> None:
    """Give ``sh`` a plan reading its native histograms as columns when every one of them
    is appended at the scrape's time and the columns give the objects ``hists`` holds (the
    same ``FloatHistogram``s, field for field), else leave it reading objects."""
    natives: list[tuple[int, Any, bool]] = []
    if read_values(families, opts, sh.has_inf, natives) is None or not natives:
        return
    at = {i: j for j, (i, _, _) in enumerate(natives)}
    if any(t is not None for _, t, i in sh.hists if i in at):
        return  # timestamped native histograms: objects (appended one by one at their times)
    msgs = [h for _, h, _ in natives]
    plan = NativePlan.make(msgs, [g for _, _, g in natives], opts.max_schema, opts.bucket_limit)
    cols = plan.columns(msgs) if plan is not None else None
    if plan is None or cols is None:
        return
    objs = cols.objects().tolist()
    if any(repr(objs[j]) != repr(hists[i]) for i, j in at.items()):
        return  # never expected: the columns would differ from the objects, so they are not used
    batch = [(r, at[i]) for r, _, i in sh.hists if i in at]
    sh.plan = plan
    sh.batch_refs = np.array([r for r, _ in batch], dtype=np.int64)
    sh.batch_pick = np.array([j for _, j in batch], dtype=np.intp)
    sh.rest = [(r, t, i) for r, t, i in sh.hists if i not in at]


__all__ = ["ProtoRepeat", "Replay", "read_values", "skeleton_class", "skeleton_digest"]
