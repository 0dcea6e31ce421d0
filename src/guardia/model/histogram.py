"""Native histogram values: Prometheus's float histogram and its arithmetic.

A native histogram sample is one value holding a whole distribution: a count, a sum, a zero
bucket and sparse buckets whose boundaries follow from a *schema*.  Schemas -4..8 are
exponential (each power of two split into ``2**schema`` buckets, bucket ``i`` of the
positive side covering ``(base**(i-1), base**i]`` with ``base = 2**(2**-schema)``); schema
-53 ("custom buckets", NHCB) takes its upper bounds from ``custom_values`` like a classic
histogram's ``le`` labels, with no zero bucket and no negative side.

Buckets are held as ``{index: count}`` maps rather than Prometheus's spans + bucket arrays:
every observable form (the test scripts' comparison, the API's JSON, ``String()``) ignores
empty buckets, and a map makes addition, subtraction and schema reduction one dictionary
merge.  Spans are rebuilt on demand for encoders that want them.

Integer histograms (the exposition format's) are float histograms with whole counts: PromQL
reads every histogram as a float one, as Prometheus does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardia.model.histbounds import exp_bound

UNKNOWN = 0
COUNTER_RESET = 1
NOT_COUNTER_RESET = 2
GAUGE = 3
HINT_NAMES = {"unknown": UNKNOWN, "reset": COUNTER_RESET, "not_reset": NOT_COUNTER_RESET, "gauge": GAUGE}
CUSTOM_BUCKETS_SCHEMA = -53
MIN_SCHEMA, MAX_SCHEMA = -4, 8


class HistogramError(ValueError):
    """Two histograms that cannot be combined, or a malformed histogram."""


class IncompatibleSchemaError(HistogramError):
    """One histogram has exponential buckets, the other custom ones."""

    def __init__(self) -> None:
        super().__init__(
            "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
        )


@dataclass(slots=True)
class Bucket:
    lower: float
    upper: float
    lower_inclusive: bool
    upper_inclusive: bool
    count: float
    index: int

    def __str__(self) -> str:
        lo = "[" if self.lower_inclusive else "("
        hi = "]" if self.upper_inclusive else ")"
        return f"{lo}{go_g(self.lower)},{go_g(self.upper)}{hi}:{go_g(self.count)}"


@dataclass(slots=True)
class FloatHistogram:
    schema: int = 0
    count: float = 0.0
    sum: float = 0.0
    zero_threshold: float = 0.0
    zero_count: float = 0.0
    positive: dict[int, float] = field(default_factory=dict)
    negative: dict[int, float] = field(default_factory=dict)
    custom_values: list[float] = field(default_factory=list)
    counter_reset_hint: int = UNKNOWN

    # -- basics ----------------------------------------------------------------------------

    def empty_like(self) -> FloatHistogram:
        """A histogram of the same schema, zero threshold and custom bounds with nothing
        counted: what a created timestamp stands for (a zero sample of a native histogram)."""
        return FloatHistogram(schema=self.schema, zero_threshold=self.zero_threshold,
                              custom_values=list(self.custom_values))

    def copy(self) -> FloatHistogram:
        return FloatHistogram(
            self.schema, self.count, self.sum, self.zero_threshold, self.zero_count,
            dict(self.positive), dict(self.negative), list(self.custom_values), self.counter_reset_hint,
        )

    @property
    def uses_custom_buckets(self) -> bool:
        return self.schema == CUSTOM_BUCKETS_SCHEMA

    def compact(self) -> FloatHistogram:
        """Drop empty buckets (Prometheus's ``Compact(0)``), in place."""
        self.positive = {i: c for i, c in sorted(self.positive.items()) if c != 0}
        self.negative = {i: c for i, c in sorted(self.negative.items()) if c != 0}
        return self

    def mul(self, factor: float) -> FloatHistogram:
        """Scale every count and the sum, in place."""
        self.count *= factor
        self.sum *= factor
        self.zero_count *= factor
        self.positive = {i: c * factor for i, c in self.positive.items()}
        self.negative = {i: c * factor for i, c in self.negative.items()}
        return self

    def div(self, d: float) -> FloatHistogram:
        """Divide every count and the sum, in place (by zero: infinities, as Go's floats)."""
        def q(c: float) -> float:
            return _fdiv(c, d)

        self.count = q(self.count)
        self.sum = q(self.sum)
        self.zero_count = q(self.zero_count)
        self.positive = {i: q(c) for i, c in self.positive.items()}
        self.negative = {i: q(c) for i, c in self.negative.items()}
        return self

    # -- buckets and bounds ----------------------------------------------------------------

    def bound(self, index: int) -> float:
        """Upper bound of positive bucket ``index``."""
        if self.uses_custom_buckets:
            return self.custom_values[index] if index < len(self.custom_values) else math.inf
        return exp_bound(index, self.schema)

    def positive_buckets(self) -> Iterator[Bucket]:
        """Positive buckets in increasing order (custom buckets included), empty ones too."""
        custom = self.uses_custom_buckets
        for i in sorted(self.positive):
            if custom:
                lo = self.custom_values[i - 1] if i > 0 else -math.inf
                yield Bucket(lo, self.bound(i), False, True, self.positive[i], i)
            else:
                yield Bucket(exp_bound(i - 1, self.schema), exp_bound(i, self.schema), False, True,
                             self.positive[i], i)

    def negative_buckets(self) -> Iterator[Bucket]:
        """Negative buckets from the one nearest zero outwards."""
        for i in sorted(self.negative):
            yield Bucket(-exp_bound(i, self.schema), -exp_bound(i - 1, self.schema), True, False,
                         self.negative[i], i)

    def zero_bucket(self) -> Bucket:
        return Bucket(-self.zero_threshold, self.zero_threshold, True, True, self.zero_count, 0)

    def all_buckets(self) -> Iterator[Bucket]:
        """Every bucket from the lowest bound to the highest: negative, zero, positive."""
        yield from reversed(list(self.negative_buckets()))
        if not self.uses_custom_buckets and (self.zero_threshold != 0 or self.zero_count != 0):
            yield self.zero_bucket()
        yield from self.positive_buckets()

    def __str__(self) -> str:
        """Prometheus's ``String()`` (the label ``count_values`` gives a histogram)."""
        parts = [f"{{count:{go_g(self.count)}, sum:{go_g(self.sum)}"]
        for b in reversed(list(self.negative_buckets())):
            if b.count != 0:
                parts.append(str(b))
        if self.zero_count != 0:
            parts.append(str(self.zero_bucket()))
        for b in self.positive_buckets():
            if b.count != 0:
                parts.append(str(b))
        return ", ".join(parts) + "}"

    def test_expression(self) -> str:
        """The promqltest form ``{{schema:0 count:... buckets:[...]}}`` (for messages)."""
        h = self.copy().compact()
        out = [f"schema:{h.schema}"]
        if h.count:
            out.append(f"count:{go_g(h.count)}")
        if h.sum:
            out.append(f"sum:{go_g(h.sum)}")
        if h.zero_count:
            out.append(f"z_bucket:{go_g(h.zero_count)}")
        if h.zero_threshold:
            out.append(f"z_bucket_w:{go_g(h.zero_threshold)}")
        if h.custom_values:
            out.append("custom_values:[" + " ".join(go_g(v) for v in h.custom_values) + "]")
        for key, m in (("", h.positive), ("n_", h.negative)):
            if m:
                lo, hi = min(m), max(m)
                if lo:
                    out.append(f"{key}offset:{lo}")
                out.append(f"{key}buckets:[" + " ".join(go_g(m.get(i, 0.0)) for i in range(lo, hi + 1)) + "]")
        if h.counter_reset_hint != UNKNOWN:
            names = {v: k for k, v in HINT_NAMES.items()}
            out.append(f"counter_reset_hint:{names[h.counter_reset_hint]}")
        return "{{" + " ".join(out) + "}}"

    # -- spans (for encoders and the loader) -----------------------------------------------

    @staticmethod
    def from_spans(spans: list[tuple[int, int]], buckets: list[float]) -> dict[int, float]:
        """``{index: count}`` from Prometheus's spans (offset, length) and absolute counts."""
        out: dict[int, float] = {}
        idx, k = 0, 0
        for offset, length in spans:
            idx += offset  # the first span's offset is absolute, the others are gaps
            for _ in range(length):
                if k >= len(buckets):
                    raise HistogramError("spans need more buckets than given")
                out[idx] = buckets[k]
                idx += 1
                k += 1
        if k != len(buckets):
            raise HistogramError("spans need fewer buckets than given")
        return out

    @staticmethod
    def to_spans(m: dict[int, float]) -> tuple[list[tuple[int, int]], list[float]]:
        """Spans and counts of a bucket map, one span per run of consecutive indexes."""
        spans: list[tuple[int, int]] = []
        counts: list[float] = []
        prev: int | None = None
        for i in sorted(m):
            if prev is not None and i == prev + 1:
                off, ln = spans[-1]
                spans[-1] = (off, ln + 1)
            else:
                spans.append((i - (prev + 1) if prev is not None else i, 1))
            counts.append(m[i])
            prev = i
        return spans, counts

    # -- arithmetic ------------------------------------------------------------------------

    def add(self, other: FloatHistogram) -> tuple[FloatHistogram, bool]:
        """``self + other`` as a new histogram, and whether custom bounds were reconciled.

        The result has the lower of the two schemas and the wider zero bucket; the counter
        reset hint is combined as Prometheus's ``adjustCounterReset`` does.
        """
        return _combine(self, other, 1.0)

    def sub(self, other: FloatHistogram) -> tuple[FloatHistogram, bool]:
        """``self - other`` as a new histogram (see ``add``)."""
        return _combine(self, other, -1.0)

    def to_schema(self, target: int) -> FloatHistogram:
        """A copy at a lower (or equal) resolution, buckets merged."""
        if target > self.schema:
            raise HistogramError(f"cannot copy from schema {self.schema} to {target}")
        h = self.copy()
        if target != self.schema:
            h.positive = _reduce(self.positive, self.schema, target)
            h.negative = _reduce(self.negative, self.schema, target)
            h.schema = target
        return h

    def detect_reset(self, previous: FloatHistogram) -> bool:
        """Whether ``self`` follows ``previous`` only after a counter reset.

        The hint decides when it is ``reset``/``not_reset``; otherwise any count, zero
        bucket or bucket that went down, a higher schema, a narrower zero bucket or a switch
        between exponential and custom buckets is a reset.
        """
        if self.counter_reset_hint == COUNTER_RESET:
            return True
        if self.counter_reset_hint == NOT_COUNTER_RESET:
            return False
        if self.count < previous.count:
            return True
        if self.uses_custom_buckets != previous.uses_custom_buckets:
            return True
        cur, prev = self, previous
        if self.uses_custom_buckets:
            if self.custom_values != previous.custom_values:
                bounds = intersect_bounds(self.custom_values, previous.custom_values)
                cur, prev = _rebucket(self, bounds), _rebucket(previous, bounds)
            return _went_down(cur.positive, prev.positive)
        if self.schema == previous.schema and self.zero_threshold == previous.zero_threshold:
            # the usual case (one series' scrapes): the same layout, compared bucket by bucket
            return (self.zero_count < previous.zero_count or _went_down(self.positive, previous.positive)
                    or _went_down(self.negative, previous.negative))
        if self.schema > previous.schema:
            return True
        if self.zero_threshold < previous.zero_threshold:
            return True
        prev_zero, thr = previous.zero_count_for_threshold(self.zero_threshold)
        if thr != self.zero_threshold:
            return True
        if self.zero_count < prev_zero:
            return True
        prev_pos = _reduce(_above(previous.positive, previous.schema, thr), previous.schema, self.schema)
        prev_neg = _reduce(_above(previous.negative, previous.schema, thr), previous.schema, self.schema)
        return _went_down(self.positive, prev_pos) or _went_down(self.negative, prev_neg)

    def zero_count_for_threshold(self, larger: float) -> tuple[float, float]:
        """The zero count if the zero bucket were widened to ``larger`` (or further, to the
        upper bound of a populated bucket the new threshold would cut), and that threshold."""
        if larger == self.zero_threshold:
            return self.zero_count, larger
        while True:
            count = self.zero_count
            moved = False
            for b in self.positive_buckets():
                if b.lower >= larger:
                    break
                count += b.count
                if b.upper > larger:
                    if b.count != 0:
                        larger, moved = b.upper, True
                    break
            if moved:
                continue
            for b in self.negative_buckets():
                if b.upper <= -larger:
                    break
                count += b.count
                if b.lower < -larger:
                    if b.count != 0:
                        larger, moved = -b.lower, True
                    break
            if moved:
                continue
            return count, larger

    def widen_zero_bucket(self, larger: float) -> None:
        """Widen the zero bucket in place, merging the buckets it now covers."""
        self.zero_count, self.zero_threshold = self.zero_count_for_threshold(larger)
        self.positive = _above(self.positive, self.schema, self.zero_threshold)
        self.negative = _above(self.negative, self.schema, self.zero_threshold)

    def equals(self, other: FloatHistogram) -> bool:
        """Exact equality of everything but the counter reset hint, empty buckets ignored
        (what PromQL's ``==`` between histograms compares)."""
        a, b = self.copy().compact(), other.copy().compact()
        return (
            a.schema == b.schema and a.count == b.count and a.sum == b.sum
            and a.zero_threshold == b.zero_threshold and a.zero_count == b.zero_count
            and a.positive == b.positive and a.negative == b.negative
            and (not a.uses_custom_buckets or a.custom_values == b.custom_values)
        )


def _fdiv(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def buckets_from_spans(spans: Sequence[Any], deltas: Sequence[int],
                       counts: Sequence[float] | None) -> dict[int, float]:
    """The {bucket index: count} map of one side of an encoded histogram (the exposition's
    protobuf and remote write share the encoding): ``counts`` for a float histogram, else
    the integer ``deltas``, laid out along the spans.  Raises ``HistogramError`` for what
    Prometheus refuses: a count that goes negative, a later span with a negative offset, spans
    and buckets of different lengths."""
    if counts is not None:
        absolute = [float(c) for c in counts]
    else:
        absolute, run = [], 0
        for d in deltas:
            run += int(d)
            if run < 0:
                raise HistogramError("a bucket count goes negative")
            absolute.append(float(run))
    out: dict[int, float] = {}
    idx, k = 0, 0
    for i, sp in enumerate(spans):
        if i > 0 and sp.offset < 0:
            raise HistogramError(f"span {i + 1} has a negative offset {sp.offset} (spans must go "
                                 "from lower to higher buckets)")
        idx = int(sp.offset) if i == 0 else idx + int(sp.offset)
        for _ in range(int(sp.length)):
            if k >= len(absolute):
                raise HistogramError(f"spans need more buckets than the {len(absolute)} given")
            out[idx] = absolute[k]
            idx += 1
            k += 1
    if k != len(absolute):
        raise HistogramError(f"spans need {k} buckets but {len(absolute)} are given")
    return out


def _target_index(index: int, origin: int, target: int) -> int:
    return ((index - 1) >> (origin - target)) + 1


def _reduce(m: dict[int, float], origin: int, target: int) -> dict[int, float]:
    if origin in (target, CUSTOM_BUCKETS_SCHEMA):
        return dict(m)
    out: dict[int, float] = {}
    for i, c in m.items():
        j = _target_index(i, origin, target)
        out[j] = out.get(j, 0.0) + c
    return out


def _above(m: dict[int, float], schema: int, threshold: float) -> dict[int, float]:
    """Buckets not merged into a zero bucket of ``threshold`` (those whose upper bound is
    above it: the threshold always falls on a bucket boundary or inside an empty one)."""
    if threshold == 0 or schema == CUSTOM_BUCKETS_SCHEMA or not m:
        return dict(m)
    return {i: c for i, c in m.items() if exp_bound(i, schema) > threshold}


def _went_down(cur: dict[int, float], prev: dict[int, float]) -> bool:
    get = cur.get
    return any(c > get(i, 0.0) for i, c in prev.items())


def intersect_bounds(a: list[float], b: list[float]) -> list[float]:
    """The custom bucket bounds both histograms share (the layout both can be rebucketed to)."""
    sb = set(b)
    return [x for x in a if x in sb]


def _rebucket(h: FloatHistogram, bounds: list[float]) -> FloatHistogram:
    """A custom-bucket histogram merged into the coarser ``bounds`` (a subset of its own)."""
    import bisect

    out = h.copy()
    out.custom_values = list(bounds)
    m: dict[int, float] = {}
    for i, c in h.positive.items():
        upper = h.custom_values[i] if i < len(h.custom_values) else math.inf
        j = bisect.bisect_left(bounds, upper) if upper != math.inf else len(bounds)
        m[j] = m.get(j, 0.0) + c
    out.positive = m
    return out


def adjust_hint(a: int, b: int) -> tuple[int, bool]:
    """The counter reset hint of ``a (+|-) b`` and whether the two collided (reset vs
    not-reset), as Prometheus's ``adjustCounterReset``."""
    if a in (b, GAUGE):
        return a, False
    if b == GAUGE:
        return GAUGE, False
    if a == UNKNOWN or b == UNKNOWN:
        return UNKNOWN, False
    return UNKNOWN, True


def _combine(a: FloatHistogram, b: FloatHistogram, sign: float) -> tuple[FloatHistogram, bool]:
    if a.uses_custom_buckets != b.uses_custom_buckets:
        raise IncompatibleSchemaError()
    reconciled = False
    h = a.copy()
    o = b
    if a.uses_custom_buckets and a.custom_values != b.custom_values:
        bounds = intersect_bounds(a.custom_values, b.custom_values)
        h, o = _rebucket(h, bounds), _rebucket(b, bounds)
        reconciled = True
    h.counter_reset_hint, _ = adjust_hint(a.counter_reset_hint, b.counter_reset_hint)
    if not h.uses_custom_buckets and (h.schema != o.schema or h.zero_threshold != o.zero_threshold):
        # Reconcile the zero buckets: both end with the wider threshold.
        o = o.copy()
        while o.zero_threshold != h.zero_threshold:
            if h.zero_threshold > o.zero_threshold:
                o.widen_zero_bucket(h.zero_threshold)
            if o.zero_threshold > h.zero_threshold:
                h.widen_zero_bucket(o.zero_threshold)
        target = min(h.schema, o.schema)
        if h.schema != target:
            h = h.to_schema(target)
        if o.schema != target:
            o = o.to_schema(target)
    h.zero_count += sign * o.zero_count
    h.count += sign * o.count
    h.sum += sign * o.sum
    for i, c in o.positive.items():
        h.positive[i] = h.positive.get(i, 0.0) + sign * c
    for i, c in o.negative.items():
        h.negative[i] = h.negative.get(i, 0.0) + sign * c
    return h, reconciled


def go_g(v: float) -> str:
    """Go's ``%g`` / ``%v`` of a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``): the
    shortest digits that read back exactly, in exponent form when the decimal exponent is
    below -4 or at least 6 (Go fixes 6 for the shortest precision)."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    # repr gives the shortest digits that read back; read them off it (decimal, whose module is
    # ~0.3 MiB resident, is not loaded in an agent for this)
    neg = "-" if v < 0 else ""
    mant, _, e = repr(abs(v)).partition("e")
    whole, _, frac = mant.partition(".")
    whole = whole.lstrip("0")
    # the decimal exponent of the first significant digit
    x = int(e or 0) + (len(whole) - 1 if whole else len(frac.lstrip("0")) - len(frac) - 1)
    ds = (whole + frac).lstrip("0").rstrip("0") or "0"
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if x < 0:
        return f"{neg}0.{'0' * (-x - 1)}{ds}"
    if len(ds) <= x + 1:
        return f"{neg}{ds}{'0' * (x + 1 - len(ds))}"
    return f"{neg}{ds[: x + 1]}.{ds[x + 1 :]}"


def from_classic(buckets: Sequence[tuple[float, float]], count: float | None, total: float,
                 gauge: bool = False) -> FloatHistogram:
    """A classic histogram's cumulative ``(le, count)`` buckets as a native histogram with custom
    buckets (NHCB), as Prometheus 3 converts them (``convert_classic_histograms_to_nhcb``,
    promqltest's ``load_with_nhcb``): the finite bounds become ``custom_values`` and each
    bucket holds its own observations.  ``count`` is the ``_count`` series' value (None: the
    ``+Inf`` bucket's).  ``HistogramError`` when the buckets are not cumulative or no count is
    known, so the caller keeps the classic series instead."""
    by_le = sorted(buckets)
    if any(b[0] == a[0] for a, b in itertools.pairwise(by_le)):
        raise HistogramError("two buckets with the same le")
    finite = [le for le, _ in by_le if le != math.inf]
    if count is None:
        if not by_le or by_le[-1][0] != math.inf:
            raise HistogramError("no +Inf bucket and no _count")
        count = by_le[-1][1]
    cumulative = [c for le, c in by_le if le != math.inf] + [count]
    h = FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=count, sum=total, custom_values=finite,
                       counter_reset_hint=GAUGE if gauge else UNKNOWN)
    prev = 0.0
    for i, c in enumerate(cumulative):
        if c < prev and not math.isnan(c):
            raise HistogramError(f"bucket counts are not cumulative ({c:g} after {prev:g})")
        if c != prev:
            h.positive[i] = c - prev
        prev = c
    return h
