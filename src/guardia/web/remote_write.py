"""Remote write 1.0 receiver (``POST /api/v1/write``): snappy-compressed protobuf WriteRequest.

The endpoint is a plain ASGI app (Starlette's request objects cost a noticeable share of a
2,000-sample request); decoding lives in ``remote_write_decode``.  Usual-size requests are
ingested on the event loop, big ones in one writer thread.  Native histograms are not stored
(counted in ``guardia_remote_write_histograms_dropped_total``).

A payload is decoded and validated completely before anything is appended, so a bad request
is refused with 400 and a reason and stores nothing.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from prometheus_client import CollectorRegistry, Counter
from starlette.types import Receive, Scope, Send

from guardia.storage.interface import AppendError, Storage
from guardia.web.remote_write_decode import (
    MAX_DECOMPRESSED_BYTES,
    DecodedWrite,
    RemoteWriteError,
    declared_size,
    decode_labels,
    decode_write_request,
    decompress,
)

__all__ = [
    "MAX_COMPRESSED_BYTES",
    "MAX_DECOMPRESSED_BYTES",
    "DecodedWrite",
    "RemoteWriteError",
    "RemoteWriteReceiver",
    "StoreUnavailableError",
    "decode_labels",
    "decode_write_request",
    "decompress",
]

log = logging.getLogger("guardia.web")

MAX_COMPRESSED_BYTES = 32 * 1024 * 1024
# Requests up to this size (decompressed) are decoded on the event loop itself: ~8,000
# samples, a few milliseconds of work.
INLINE_MAX_DECOMPRESSED = 1024 * 1024
_REF_CACHE_LIMIT = 2_000_000


class StoreUnavailableError(RuntimeError):
    """The store refuses all writes for now (closed for shutdown, opened read-only): the
    sender's batch is fine and should be retried, so this is a 503, not a 400."""


class RemoteWriteReceiver:
    """Appends decoded requests to a storage; keeps the label-bytes → ref cache."""

    def __init__(self, storage: Storage, registry: CollectorRegistry | None = None) -> None:
        self._storage = storage
        self._cache: dict[bytes, int] = {}
        # One writer thread: the store takes one commit at a time anyway, and concurrent
        # requests in several threads would only fight over the GIL and the store's lock.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remote-write")
        reg = registry if registry is not None else CollectorRegistry()
        self._samples = Counter(
            "guardia_remote_write_samples_received_total",
            "Samples accepted through the remote write receiver.",
            registry=reg,
        )
        self._rejected = Counter(
            "guardia_remote_write_samples_rejected_total",
            "Samples the store refused (out of order, duplicate, too old).",
            registry=reg,
        )
        self._bad = Counter(
            "guardia_remote_write_bad_requests_total",
            "Remote write requests refused with 400 because the payload was malformed.",
            registry=reg,
        )
        self._histograms = Counter(
            "guardia_remote_write_histograms_dropped_total",
            "Native histogram samples received and not stored (guardia stores float samples).",
            registry=reg,
        )

    def ingest(self, payload: bytes) -> int:
        """Decode and append one decompressed WriteRequest; return samples appended."""
        try:
            dec = decode_write_request(payload, self._cache)
            new_labels = [decode_labels(k) for k in dec.new_keys]
        except RemoteWriteError:
            self._bad.inc()
            raise
        if dec.skipped_histograms:
            self._histograms.inc(dec.skipped_histograms)
        app = self._storage.appender()
        refs = dec.refs
        if new_labels:
            if len(self._cache) + len(new_labels) > _REF_CACHE_LIMIT:
                self._cache.clear()
            new_refs = np.empty(len(new_labels), dtype=np.int64)
            for i, (key, lbl) in enumerate(zip(dec.new_keys, new_labels, strict=True)):
                r = app.ref(lbl)
                self._cache[key] = r
                new_refs[i] = r
            neg = refs < 0
            if neg.any():
                refs = refs.copy()
                refs[neg] = new_refs[-1 - refs[neg]]
        ts, vs = dec.timestamps, dec.values
        try:
            if ts.shape[0]:
                if (ts == ts[0]).all():
                    app.append_batch(refs, int(ts[0]), vs)
                else:
                    order = np.argsort(ts, kind="stable")
                    ts_s, refs_s, vs_s = ts[order], refs[order], vs[order]
                    uniq, starts = np.unique(ts_s, return_index=True)
                    bounds = [*starts.tolist(), int(ts_s.shape[0])]
                    for i, t in enumerate(uniq.tolist()):
                        a, b = bounds[i], bounds[i + 1]
                        app.append_batch(refs_s[a:b], int(t), vs_s[a:b])
        except AppendError as e:
            app.rollback()
            self._rejected.inc(int(ts.shape[0]))
            raise RemoteWriteError(f"sample refused by the store: {e}") from None
        try:
            stats = app.commit()
        except AppendError as e:  # the store refuses every write (closed, read-only)
            raise StoreUnavailableError(str(e)) from None
        self._samples.inc(stats.appended)
        if stats.rejected:
            self._rejected.inc(stats.rejected)
            raise RemoteWriteError(
                f"{stats.rejected} of {ts.shape[0]} samples refused: out_of_order={stats.out_of_order} "
                f"duplicate={stats.duplicate} out_of_bounds={stats.out_of_bounds}"
            )
        return stats.appended

    def _ingest_compressed(self, body: bytes) -> int:
        try:
            payload = decompress(body)
        except RemoteWriteError:
            self._bad.inc()
            raise
        return self.ingest(payload)

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
        if "io.prometheus.write.v2" in ctype:
            return await _reply(
                send, 415,
                "remote write 2.0 is not supported; configure protobuf_message: "
                "prometheus.WriteRequest (remote write 1.0)\n",
            )
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
        try:
            if declared_size(body) <= INLINE_MAX_DECOMPRESSED:
                # A usual batch takes a few ms: handing it to a thread costs more than it
                # saves, since the two threads then queue on the GIL at every switch.
                self._ingest_compressed(bytes(body))
            else:
                # a big one in the worker thread, so the event loop keeps serving scrapes
                # and queries between GIL switches meanwhile
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._writer, self._ingest_compressed, bytes(body))
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


_TOO_LARGE = f"request body larger than {MAX_COMPRESSED_BYTES} bytes; send smaller batches\n"


async def _reply(send: Send, status: int, text: str) -> int:
    body = text.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
    return status
