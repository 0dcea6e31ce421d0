"""OTLP/HTTP metrics receiving: a request body decoded (protobuf or JSON, gzip), translated
(``otlp_translate``) and appended to a ``Storage``.

The message classes come from ``opentelemetry-proto`` (the protocol's own generated code, on
the protobuf runtime guardia already uses for remote write).  JSON goes through protobuf's
JSON mapping after the one OTLP departure from it is undone: trace and span ids are hex in
OTLP/JSON, not base64.  A body that does not decode is refused whole (``OtlpDecodeError``, a
400); a body that decodes is stored except for the metrics it cannot hold, which are counted
as rejected data points with a reason each.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Counter

from guardia.model.labels import Labels
from guardia.model.otlp_values import hex_ids_to_base64
from guardia.storage.exemplars import ExemplarStore
from guardia.storage.interface import AppendError, Storage
from guardia.storage.remote.otlp_histograms import HistogramPoints
from guardia.storage.remote.otlp_translate import OtlpSettings, Translation, translate

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_DECODED_BYTES = 64 * 1024 * 1024
_METADATA_LIMIT = 100_000


class OtlpDecodeError(ValueError):
    """The body is not an ExportMetricsServiceRequest in the declared form: a 400."""


class OtlpStoreError(RuntimeError):
    """The store refused the samples (closed, read-only, out of order): see ``bad_request``."""

    def __init__(self, message: str, bad_request: bool) -> None:
        super().__init__(message)
        self.bad_request = bad_request


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str, content_encoding: str) -> Any:
    """The request message; the messages name what to change, as Prometheus's do."""
    ctype = media_type(content_type)
    if ctype not in (PROTOBUF, JSON):
        raise OtlpDecodeError(f"unsupported content type: {content_type}, supported: [{JSON}, {PROTOBUF}]")
    enc = content_encoding.strip().lower()
    if enc == "gzip":
        body = _gunzip(body)
    elif enc not in ("", "identity"):
        raise OtlpDecodeError(f'unsupported compression: {content_encoding}. Only "gzip" or no compression '
                              "supported")
    # protobuf and OpenTelemetry's messages are imported on the first request: together ~3 MiB
    # resident, in every server, and most never receive OTLP
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # type: ignore[import-untyped]
        ExportMetricsServiceRequest,
    )

    req = ExportMetricsServiceRequest()
    if ctype == PROTOBUF:
        try:
            req.ParseFromString(body)
        except DecodeError as e:
            raise OtlpDecodeError(f"proto: cannot parse ExportMetricsServiceRequest: {e}") from None
        return req
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise OtlpDecodeError(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise OtlpDecodeError("invalid JSON: an ExportMetricsServiceRequest is an object")
    try:
        hex_ids_to_base64(doc)
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as e:
        raise OtlpDecodeError(f"invalid ExportMetricsServiceRequest: {e}") from None
    return req


def _gunzip(body: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, MAX_DECODED_BYTES)
    except zlib.error as e:
        raise OtlpDecodeError(f"gzip: invalid body: {e}") from None
    if d.unconsumed_tail:
        raise OtlpDecodeError(f"gzip: body decompresses to more than {MAX_DECODED_BYTES} bytes; send smaller "
                              "batches")
    if not d.eof:
        raise OtlpDecodeError("gzip: unexpected EOF")
    return out


def encode_response(rejected: int, message: str, content_type: str) -> bytes:
    """An ``ExportMetricsServiceResponse`` in the request's encoding; ``partial_success`` only
    when something was refused, as the protocol asks."""
    from google.protobuf import json_format  # see decode
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # type: ignore[import-untyped]
        ExportMetricsServiceResponse,
    )

    resp = ExportMetricsServiceResponse()
    if rejected or message:
        resp.partial_success.rejected_data_points = rejected
        resp.partial_success.error_message = message
    if media_type(content_type) == JSON:
        return orjson.dumps(json_format.MessageToDict(resp))
    return bytes(resp.SerializeToString())


@dataclass
class IngestResult:
    appended: int = 0
    rejected_points: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return "; ".join(self.errors)


class OtlpReceiver:
    """Appends translated requests to a storage and counts what it did."""

    def __init__(self, storage: Storage, registry: CollectorRegistry | None = None,
                 exemplars: ExemplarStore | None = None) -> None:
        self._storage = storage
        self._exemplars = exemplars
        # family name -> (type, help, unit) of the metrics received, for /api/v1/metadata
        self.metadata: dict[str, tuple[str, str, str]] = {}
        reg = registry if registry is not None else CollectorRegistry()
        self._samples = Counter("guardia_otlp_samples_received_total",
                                "Samples stored from OTLP metrics requests.", registry=reg)
        self._rejected = Counter("guardia_otlp_data_points_rejected_total",
                                 "OTLP data points refused (delta temporality, exponential histograms).",
                                 registry=reg)
        self._bad = Counter("guardia_otlp_bad_requests_total",
                            "OTLP metrics requests refused with 400 because the body did not decode.",
                            registry=reg)

    def count_bad_request(self) -> None:
        self._bad.inc()

    def ingest(self, request: Any, settings: OtlpSettings) -> IngestResult:
        tr = translate(request, settings)
        result = IngestResult(rejected_points=tr.rejected_points, errors=list(tr.errors))
        if tr.rejected_points:
            self._rejected.inc(tr.rejected_points)
        result.appended = self._append(tr)
        self._samples.inc(result.appended)
        if len(self.metadata) + len(tr.metadata) > _METADATA_LIMIT:
            self.metadata.clear()  # a sender churning names must not grow this without bound
        self.metadata.update(tr.metadata)
        if self._exemplars is not None:
            self._exemplars.add_many((series, ex) for series, exs in tr.exemplars.items() for ex in exs)
        return result

    def _append(self, tr: Translation) -> int:
        app = self._storage.appender()
        # oldest first across series, so one request holding several points of a series
        # (an SDK that batched exports) appends them in order
        flat = sorted(
            ((t, ref_key, v) for ref_key, samples in enumerate(tr.samples.values()) for t, v in samples),
            key=lambda s: (s[0], s[1]),
        )
        add_h = getattr(app, "append_histogram", None)  # the agent's store takes floats only
        if not flat and not (tr.hist and add_h is not None):
            app.rollback()
            return 0
        total = len(flat) + (len(tr.hist) if add_h is not None else 0)
        try:
            refs = [app.ref(labels) for labels in tr.samples]
            for t, i, v in flat:
                app.append(refs[i], t, v)
            if add_h is not None and tr.hist:
                _append_histograms(app, tr.hist)
        except AppendError as e:
            app.rollback()
            raise OtlpStoreError(f"sample refused by the store: {e}", bad_request=True) from None
        try:
            stats = app.commit()
        except AppendError as e:
            raise OtlpStoreError(f"the store is not accepting writes: {e}", bad_request=False) from None
        if stats.rejected:
            raise OtlpStoreError(
                f"{stats.rejected} of {total} samples refused: out_of_order={stats.out_of_order} "
                f"duplicate={stats.duplicate} out_of_bounds={stats.out_of_bounds} too_old={stats.too_old}",
                bad_request=True)
        return stats.appended


def _append_histograms(app: Any, hist: HistogramPoints) -> None:
    """A request's native histograms, oldest first per series and series in first-seen
    order: as columns in one ``append_histograms`` call where the store takes them (no
    object per histogram), else (or where the columns could differ) one object each."""
    batch = getattr(app, "append_histograms", None)
    got = hist.columns() if batch is not None else None
    if batch is None or got is None:
        for labels, hs in hist.objects().items():
            for t, h in sorted(hs, key=lambda x: x[0]):
                app.append_histogram(labels, t, h)
        return
    series, ts, cols = got
    ref_of: dict[Labels, int] = {}
    for labels in series:  # new series created in the order one by one appends create them
        if labels not in ref_of:
            ref_of[labels] = app.ref(labels)
    batch(np.fromiter(map(ref_of.__getitem__, series), dtype=np.int64, count=len(series)), ts, cols)
