"""``/federate``: the newest sample of every series matching ``match[]``, for another
Prometheus (or guardia) to scrape.

Samples older than the lookback delta and staleness markers are left out, external labels are
added where a series does not carry them, as Prometheus does.  The format follows the
client's ``Accept``, as Prometheus's ``expfmt.Negotiate`` picks it:

- the text format (``untyped`` families), the default.  Names that are not legacy-valid
  (``http.server.duration``) are quoted with ``escaping=allow-utf-8`` and escaped to legacy
  names otherwise (``guardia.model.escaping``), so a Prometheus 2 reads every series.  A
  native histogram is written as the text format writes a histogram: its buckets when they
  are custom ones, otherwise only ``_bucket{le="+Inf"}``, ``_sum`` and ``_count``;
- the delimited protobuf format (``application/vnd.google.protobuf;
  proto=io.prometheus.client.MetricFamily; encoding=delimited``), which a Prometheus with
  native histograms asks for first: floats as ``untyped``, native histograms whole (schema,
  zero bucket, spans and float counts), custom-bucket ones as classic buckets, which is what
  they are.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from guardia.model import Labels
from guardia.model.escaping import (
    ALLOW_UTF8,
    SCHEMES,
    UNDERSCORES,
    accept_ranges,
    escape_labels,
    metric_text,
    negotiate,
    series_text,
)
from guardia.model.histogram import FloatHistogram
from guardia.model.samples import is_stale_nan
from guardia.storage.interface import Queryable
from guardia.web.envelope import ApiError
from guardia.web.params import parse_match_params, read_params

PROTO_TYPE = "application/vnd.google.protobuf"
_FAMILY = "io.prometheus.client.MetricFamily"
PROTO_CONTENT_TYPE = f"{PROTO_TYPE}; proto={_FAMILY}; encoding=delimited"
_UNTYPED, _HISTOGRAM = 3, 4  # MetricType of metrics.proto

# (name, labels without __name__, timestamp ms, a float or a native histogram)
Latest = tuple[str, list[tuple[str, str]], int, "float | FloatHistogram"]


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def collect(
    storage: Queryable, selectors: list[list[object]], now_ms: int, lookback_ms: int,
    external_labels: Mapping[str, str], escaping: str = ALLOW_UTF8,
) -> list[Latest]:
    """Each matching series' newest sample within the lookback, in label order, with the
    external labels it lacks and names escaped for the client."""
    q = storage.querier(now_ms - lookback_ms, now_ms)
    latest: dict[Labels, tuple[int, float | FloatHistogram]] = {}
    try:
        for ms in selectors:
            for s in q.select(ms):  # type: ignore[arg-type]
                if len(s) == 0:
                    continue
                h = s.histograms[-1] if s.histograms is not None else None
                if isinstance(h, FloatHistogram):
                    latest[s.labels] = (int(s.timestamps[-1]), h)
                    continue
                v = float(s.values[-1])
                if is_stale_nan(v):
                    continue
                latest[s.labels] = (int(s.timestamps[-1]), v)
    finally:
        q.close()
    out: list[Latest] = []
    for lbl, (t, point) in sorted(latest.items()):
        d = dict(lbl)
        for k, ev in external_labels.items():
            d.setdefault(k, ev)
        pairs = sorted(escape_labels(d.items(), escaping))
        name = next((val for k, val in pairs if k == "__name__"), "")
        out.append((name, [(k, val) for k, val in pairs if k != "__name__"], t, point))
    return out


def render(
    storage: Queryable, selectors: list[list[object]], now_ms: int, lookback_ms: int,
    external_labels: Mapping[str, str], escaping: str = ALLOW_UTF8,
) -> str:
    """The text format."""
    return render_text(collect(storage, selectors, now_ms, lookback_ms, external_labels, escaping))


def render_text(samples: list[Latest]) -> str:
    lines: list[str] = []
    current: tuple[str, bool] | None = None
    for name, inner, t, v in _by_family(samples):
        kind = (name, isinstance(v, FloatHistogram))
        if kind != current:
            lines.append(f"# TYPE {metric_text(name)} {'histogram' if kind[1] else 'untyped'}")
            current = kind
        if isinstance(v, FloatHistogram):
            for le, cumulative in _classic_buckets(v):
                lines.append(f"{series_text(name + '_bucket', [*inner, ('le', le)])} {_fmt(cumulative)} {t}")
            lines.append(f"{series_text(name + '_sum', inner)} {_fmt(v.sum)} {t}")
            lines.append(f"{series_text(name + '_count', inner)} {_fmt(v.count)} {t}")
        else:
            lines.append(f"{series_text(name, inner)} {_fmt(v)} {t}")
    return "\n".join(lines) + ("\n" if lines else "")


def _by_family(samples: list[Latest]) -> list[Latest]:
    """Series of one name together (floats before histograms), as a family must be."""
    return sorted(samples, key=lambda s: (s[0], isinstance(s[3], FloatHistogram)))


def _classic_buckets(h: FloatHistogram) -> list[tuple[str, float]]:
    """A histogram's buckets as the text format's cumulative ``le`` series: every custom
    bound, or for an exponential histogram only ``+Inf`` (as Prometheus's encoder writes a
    histogram that has no classic buckets)."""
    out: list[tuple[str, float]] = []
    if h.uses_custom_buckets:
        running = 0.0
        for i, bound in enumerate(h.custom_values):
            running += h.positive.get(i, 0.0)
            out.append((_fmt(bound), running))
    out.append(("+Inf", h.count))
    return out


def render_proto(samples: list[Latest]) -> bytes:
    """The delimited protobuf format: one ``MetricFamily`` per name and kind."""
    from guardia.model.varint import encode_varint
    from guardia.scrape.protoparse import message_class

    family_cls = message_class()
    chunks: list[bytes] = []
    fam: Any = None
    current: tuple[str, bool] | None = None
    for name, inner, t, v in _by_family(samples):
        kind = (name, isinstance(v, FloatHistogram))
        if kind != current:
            if fam is not None:
                chunks.append(_delimited(fam, encode_varint))
            fam = family_cls(name=name, type=_HISTOGRAM if kind[1] else _UNTYPED)
            current = kind
        m = fam.metric.add(timestamp_ms=t)
        for k, lv in inner:
            m.label.add(name=k, value=lv)
        if isinstance(v, FloatHistogram):
            _fill_histogram(m.histogram, v)
        else:
            m.untyped.value = v
    if fam is not None:
        chunks.append(_delimited(fam, encode_varint))
    return b"".join(chunks)


def _delimited(msg: Any, encode_varint: Callable[[int], bytes]) -> bytes:
    raw = bytes(msg.SerializeToString())
    return bytes(encode_varint(len(raw))) + raw


def _fill_histogram(ph: Any, h: FloatHistogram) -> None:
    ph.sample_sum = h.sum
    if h.uses_custom_buckets:
        classic = _classic_buckets(h)[:-1]
        if all(c.is_integer() for _, c in classic) and h.count.is_integer():
            # integer counts where they are whole: a classic histogram's float fields are
            # newer than some readers (Prometheus 2.42 reads only the integer ones there)
            ph.sample_count = int(h.count)
            for le, cumulative in classic:
                ph.bucket.add(upper_bound=float(le), cumulative_count=int(cumulative))
        else:
            ph.sample_count_float = h.count
            for le, cumulative in classic:
                ph.bucket.add(upper_bound=float(le), cumulative_count_float=cumulative)
        return
    ph.sample_count_float = h.count
    ph.schema = h.schema
    ph.zero_threshold = h.zero_threshold
    ph.zero_count_float = h.zero_count
    for buckets, spans, counts in ((h.positive, ph.positive_span, ph.positive_count),
                                   (h.negative, ph.negative_span, ph.negative_count)):
        prev: int | None = None
        for i in sorted(buckets):
            if prev is not None and i == prev + 1:
                spans[-1].length += 1
            else:
                spans.add(offset=i if prev is None else i - prev - 1, length=1)
            counts.append(buckets[i])
            prev = i
    if not h.positive and not h.negative and h.zero_count == 0:
        # a client marks an empty native histogram with a no-op span, so it is not read as classic
        ph.positive_span.add(offset=0, length=0)


def wants_protobuf(accept: str) -> tuple[bool, str]:
    """Whether the client ranks the delimited protobuf format above the text format (the
    first of equal q wins, as in ``expfmt.Negotiate``), and the escaping it names there."""
    best: tuple[float, bool, str] | None = None
    for kind, params, q in accept_ranges(accept):
        if kind == PROTO_TYPE:
            if (params.get("proto"), params.get("encoding")) != (_FAMILY, "delimited"):
                continue
            proto = True
        elif kind in ("text/plain", "*/*", "text/*"):
            proto = False
        else:
            continue
        if best is None or q > best[0]:
            escaping = params.get("escaping", UNDERSCORES)
            best = (q, proto, escaping if escaping in SCHEMES else UNDERSCORES)
    if best is None or not best[1]:
        return False, UNDERSCORES
    return True, best[2]


def federate_endpoint(
    storage: Queryable,
    lookback_ms: int,
    external_labels: Callable[[], Mapping[str, str]],
) -> Callable[[Request], object]:
    async def handle(request: Request) -> Response:
        try:
            params = await read_params(request)
            selectors = parse_match_params(params)
        except ApiError as e:
            return PlainTextResponse(f"{e.message}\n", status_code=e.status)
        if not selectors:
            return PlainTextResponse("no match[] parameter provided; e.g. ?match[]={job=\"node\"}\n", 400)
        now = int(time.time() * 1000)
        accept = request.headers.get("accept", "")
        proto, proto_escaping = wants_protobuf(accept)
        if proto:
            samples = await asyncio.to_thread(
                collect, storage, selectors, now, lookback_ms, external_labels(), proto_escaping  # type: ignore[arg-type]
            )
            body = await asyncio.to_thread(render_proto, samples)
            return Response(body, media_type=f"{PROTO_CONTENT_TYPE}; escaping={proto_escaping}")
        version, escaping = negotiate(accept)
        text = await asyncio.to_thread(
            render, storage, selectors, now, lookback_ms, external_labels(), escaping  # type: ignore[arg-type]
        )
        return PlainTextResponse(
            text, media_type=f"text/plain; version={version}; charset=utf-8; escaping={escaping}")

    return handle
