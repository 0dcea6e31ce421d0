"""Remote write 1.0 receiving: a decoded request's samples appended to a ``Storage``.

The HTTP endpoint (``guardia.web.remote_write``) hands over request bodies; decoding is
``decode`` (one numpy pass, no Python step per sample) and this module appends the result,
keeping the label-bytes → series ref cache that lets a steady sender skip label decoding.
A payload is decoded and validated completely before anything is appended, so a bad request
is refused with a reason (``RemoteWriteError``) and stores nothing.  Native histograms are not
stored (counted in ``guardia_remote_write_histograms_dropped_total``).
"""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from guardia.storage.interface import AppendError, Storage
from guardia.storage.remote.decode import RemoteWriteError, decode_labels, decode_write_request, decompress

_REF_CACHE_LIMIT = 2_000_000


class StoreUnavailableError(RuntimeError):
    """The store refuses all writes for now (closed for shutdown, opened read-only): the
    sender's batch is fine and should be retried, so this is a 503, not a 400."""


class WriteReceiver:
    """Appends decoded requests to a storage; keeps the label-bytes → ref cache."""

    def __init__(self, storage: Storage, registry: CollectorRegistry | None = None) -> None:
        self._storage = storage
        self._cache: dict[bytes, int] = {}
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

    def ingest_compressed(self, body: bytes) -> int:
        """Decompress (snappy) and ``ingest`` one request body."""
        try:
            payload = decompress(body)
        except RemoteWriteError:
            self._bad.inc()
            raise
        return self.ingest(payload)
