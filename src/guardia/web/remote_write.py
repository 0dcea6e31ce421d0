"""Remote write endpoint (``POST /api/v1/write``): snappy-compressed protobuf, 1.0's
``prometheus.WriteRequest`` or 2.0's ``io.prometheus.write.v2.Request`` as ``Content-Type``
names it (``application/x-protobuf;proto=...``; no ``proto`` parameter means 1.0).  A 2.0
answer carries the ``X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written``
counts; a message this receiver does not know is answered 415, as the 2.0 spec asks.

The HTTP side only: headers, body size limits, status codes, and where a request is ingested
(usual-size ones on the event loop, big ones in one writer thread).  Decoding and appending
are ``guardia.storage.remote`` (``WriteReceiver``); this class is that receiver served as a
plain ASGI app (Starlette's request objects cost a noticeable share of a 2,000-sample
request).  A bad payload is refused with 400 and a reason and stores nothing.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry
from starlette.types import Receive, Scope, Send

from guardia.storage.interface import Storage
from guardia.storage.remote.decode import RemoteWriteError, declared_size
from guardia.storage.remote.write_receiver import StoreUnavailableError, WriteReceiver

log = logging.getLogger("guardia.web")

MAX_COMPRESSED_BYTES = 32 * 1024 * 1024
# Requests up to this size (decompressed) are decoded on the event loop itself: ~8,000
# samples, a few milliseconds of work.
INLINE_MAX_DECOMPRESSED = 1024 * 1024


class RemoteWriteReceiver(WriteReceiver):
    """The storage's write receiver with its HTTP face."""

    def __init__(self, storage: Storage, registry: CollectorRegistry | None = None) -> None:
        super().__init__(storage, registry)
        # One writer thread: the store takes one commit at a time anyway, and concurrent
        # requests in several threads would only fight over the GIL and the store's lock.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remote-write")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as a plain ASGI app: at 2,000 samples a request, Starlette's
        request and response objects cost about as much as decoding a tenth of them."""
        await self.serve(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one POST /api/v1/write; returns the HTTP status sent."""
        ctype = enc = declared = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value.decode("latin-1")
            elif name == b"content-encoding":
                enc = value.decode("latin-1").lower()
            elif name == b"content-length":
                declared = value.decode("latin-1")
        proto = _proto_of(ctype)
        if proto not in (_V1, _V2):
            return await _reply(
                send, 415,
                f"unsupported protobuf message {proto!r}; send prometheus.WriteRequest or "
                f"io.prometheus.write.v2.Request\n",
            )
        v2 = proto == _V2
        if enc not in ("", "snappy"):
            return await _reply(send, 415, f"unsupported Content-Encoding {enc!r}; use snappy\n")
        if declared.isdigit() and int(declared) > MAX_COMPRESSED_BYTES:
            return await _reply(send, 413, _TOO_LARGE)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 499  # the sender went away: nothing to answer, nothing stored
            body += message.get("body", b"")
            if len(body) > MAX_COMPRESSED_BYTES:
                return await _reply(send, 413, _TOO_LARGE)
            if not message.get("more_body", False):
                break
        if v2:
            return await self._serve_v2(bytes(body), send)
        try:
            if declared_size(body) <= INLINE_MAX_DECOMPRESSED:
                # A usual batch takes a few ms: handing it to a thread costs more than it
                # saves, since the two threads then queue on the GIL at every switch.
                self.ingest_compressed(bytes(body))
            else:
                # a big one in the worker thread, so the event loop keeps serving scrapes
                # and queries between GIL switches meanwhile
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._writer, self.ingest_compressed, bytes(body))
        except RemoteWriteError as e:
            return await _reply(send, 400, f"{e}\n")
        except StoreUnavailableError as e:
            # 5xx: Prometheus keeps the batch and retries, where a 4xx would drop it
            return await _reply(send, 503, f"the store is not accepting writes: {e}\n")
        except OSError as e:
            log.error("event=remote_write_store_failed err=%r", str(e))
            return await _reply(send, 500, f"writing to the store failed: {e}\n")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return 204


    async def _serve_v2(self, body: bytes, send: Send) -> int:
        written = (0, 0, 0)
        try:
            loop = asyncio.get_running_loop()
            written = await loop.run_in_executor(self._writer, self.ingest_compressed_v2, body)
        except RemoteWriteError as e:
            return await _reply(send, 400, f"{e}\n", _written(written))
        except StoreUnavailableError as e:
            return await _reply(send, 503, f"the store is not accepting writes: {e}\n", _written(written))
        except OSError as e:
            log.error("event=remote_write_store_failed err=%r", str(e))
            return await _reply(send, 500, f"writing to the store failed: {e}\n", _written(written))
        await send({"type": "http.response.start", "status": 204, "headers": _written(written)})
        await send({"type": "http.response.body", "body": b""})
        return 204


_V1 = "prometheus.WriteRequest"
_V2 = "io.prometheus.write.v2.Request"


def _proto_of(content_type: str) -> str:
    """The ``proto`` parameter of a Content-Type (1.0's message when absent)."""
    for param in content_type.split(";")[1:]:
        k, _, v = param.partition("=")
        if k.strip().lower() == "proto":
            return v.strip().strip('"')
    return _V1


def _written(counts: tuple[int, int, int]) -> list[tuple[bytes, bytes]]:
    s, h, e = counts
    return [(b"x-prometheus-remote-write-samples-written", str(s).encode()),
            (b"x-prometheus-remote-write-histograms-written", str(h).encode()),
            (b"x-prometheus-remote-write-exemplars-written", str(e).encode())]


_TOO_LARGE = f"request body larger than {MAX_COMPRESSED_BYTES} bytes; send smaller batches\n"


async def _reply(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> int:
    body = text.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ],
    })
    await send({"type": "http.response.body", "body": body})
    return status
