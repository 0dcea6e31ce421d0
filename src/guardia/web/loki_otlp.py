"""``POST /otlp/v1/logs``: OpenTelemetry's OTLP/HTTP logs export into the log store.

The OpenTelemetry SDKs' and the collector's ``otlphttp`` exporters send an
``ExportLogsServiceRequest`` as protobuf (``application/x-protobuf``) or JSON
(``application/json``), optionally gzip compressed; success is an empty
``ExportLogsServiceResponse`` in the request's encoding with status 200.  How records become
streams is ``guardia.logs.otlp``'s (Loki 3's mapping).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from guardia.logs import otlp
from guardia.logs.errors import LimitError, PushError
from guardia.logs.push import PushDecodeError, uncompress
from guardia.logs.store import LogStore

log = logging.getLogger("guardia.web.loki")
MAX_OTLP_BYTES = 64 << 20


class OtlpLogsApi:
    def __init__(self, store: LogStore) -> None:
        self.store = store

    async def logs(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_OTLP_BYTES:
            return PlainTextResponse(f"OTLP body of {len(body)} bytes exceeds {MAX_OTLP_BYTES}\n", 413)
        ct = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ct not in ("application/json", "application/x-protobuf", "application/protobuf"):
            return PlainTextResponse(
                f"unsupported Content-Type {ct!r}: OTLP/HTTP sends application/x-protobuf "
                "or application/json\n",
                415,
            )
        try:
            raw = uncompress(body, request.headers.get("content-encoding", "").strip().lower())
            streams = otlp.decode_json(raw) if ct == "application/json" else otlp.decode_protobuf(raw)
            self.store.push(streams)
        except PushError as e:
            log.warning("event=otlp_logs_partial accepted=%d problems=%r", e.accepted, e.problems)
            status = 429 if any("limit" in p for p in e.problems) and not e.accepted else 400
            return PlainTextResponse("\n".join(e.problems) + "\n", status)
        except (PushDecodeError, LimitError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        if ct == "application/json":
            return Response(b"{}", 200, media_type="application/json")
        return Response(b"", 200, media_type="application/x-protobuf")

    def routes(self) -> list[BaseRoute]:
        return [Route("/otlp/v1/logs", self.logs, methods=["POST"], name="/otlp/v1/logs")]
