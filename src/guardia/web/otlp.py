"""OTLP/HTTP metrics endpoint (``POST /api/v1/otlp/v1/metrics``), Prometheus 3's path.

An OpenTelemetry SDK or Collector pointed at ``http://guardia:9090/api/v1/otlp`` (the SDK
appends ``/v1/metrics``) pushes here.  The HTTP side only: body limits, the status codes and
bodies Prometheus gives (400 with a plain-text reason for a body that does not decode, 400 for
samples the store refuses as out of order, 503/500 when the store cannot write), and OTLP's
``ExportMetricsServiceResponse`` on success, with ``partial_success`` naming what was refused
(delta sums, exponential histograms).  Decoding, translation and appending are
``guardia.storage.remote.otlp_receive``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from guardia.storage.remote.otlp_receive import (
    JSON,
    PROTOBUF,
    OtlpDecodeError,
    OtlpReceiver,
    OtlpStoreError,
    decode,
    encode_response,
    media_type,
)
from guardia.storage.remote.otlp_translate import OtlpSettings

log = logging.getLogger("guardia.web")

PATH = "/api/v1/otlp/v1/metrics"
MAX_BODY_BYTES = 32 * 1024 * 1024


def otlp_endpoint(receiver: OtlpReceiver, settings: Callable[[], OtlpSettings]) -> Callable[..., object]:
    """The route's endpoint; ``settings`` is read per request, so a reload applies at once."""

    async def endpoint(request: Request) -> Response:
        ctype = request.headers.get("content-type", "")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes; send smaller batches")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes; send smaller batches")
        try:
            message = decode(bytes(body), ctype, request.headers.get("content-encoding", ""))
        except OtlpDecodeError as e:
            receiver.count_bad_request()
            log.warning("event=otlp_bad_request err=%r", str(e))
            return _error(400, str(e))
        try:
            result = await asyncio.to_thread(receiver.ingest, message, settings())
        except OtlpStoreError as e:
            if e.bad_request:
                return _error(400, str(e))
            return _error(503, str(e))
        except OSError as e:
            log.error("event=otlp_store_failed err=%r", str(e))
            return _error(500, f"writing to the store failed: {e}")
        if result.errors:
            log.warning("event=otlp_partial rejected_points=%d errors=%r",
                        result.rejected_points, result.message)
        out_type = JSON if media_type(ctype) == JSON else PROTOBUF
        return Response(encode_response(result.rejected_points, result.message, ctype), media_type=out_type)

    return endpoint


def _error(status: int, text: str) -> Response:
    """Go's ``http.Error``: the reason as plain text and a newline."""
    return PlainTextResponse(text + "\n", status_code=status, headers={"X-Content-Type-Options": "nosniff"})
