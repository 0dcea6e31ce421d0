"""Remote write 1.0 and 2.0 receiving: a decoded request's samples appended to a ``Storage``.

The HTTP endpoint (``guardia.web.remote_write``) hands over request bodies; decoding is
``decode`` (one numpy pass, no Python step per sample) and this module appends the result,
keeping the label-bytes → series ref cache that lets a steady sender skip label decoding.
A payload is decoded and validated completely before anything is appended, so a bad request
is refused with a reason (``RemoteWriteError``) and stores nothing.  Native histograms (1.0 and
2.0, integer and float, exponential and custom buckets) are stored where the storage takes them
(``append_histogram``, the embedded TSDB); elsewhere (agent mode) they are counted in
``guardia_remote_write_histograms_dropped_total``.

2.0 (``io.prometheus.write.v2.Request``) is decoded by the upb classes of ``proto``: labels and
metadata strings are resolved through the request's symbol table, whose references are all
checked.  Metadata (type, help, unit) is kept per metric family (``metadata``, the newest
wins, as Prometheus keeps a target's).  Label names may be any UTF-8, as Prometheus 3 takes
them.  Exemplars go to the exemplar store, counted in ``X-Prometheus-Remote-Write-Exemplars-Written``.
Created timestamps are checked, and stored as a zero sample before the series' first sample
only with ``--enable-feature=created-timestamp-zero-ingestion`` (``ct_zero_ingestion``), as
Prometheus does: then ``increase`` over a counter's first window counts from zero.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter

from guardia.model import Labels
from guardia.model.histcols import HistCols
from guardia.model.histogram import FloatHistogram
from guardia.storage.exemplars import Exemplar, ExemplarStore
from guardia.storage.interface import Appender, AppendError, Storage
from guardia.storage.remote.decode import RemoteWriteError, decode_labels, decode_write_request, decompress
from guardia.storage.remote.histcolumns import decode_columns
from guardia.storage.remote.histograms import decode_histogram
from guardia.storage.remote.metadata import METRIC_TYPES, Metadata

_REF_CACHE_LIMIT = 2_000_000
_METADATA_LIMIT = 100_000
_TYPE_NAMES = {v: k for k, v in METRIC_TYPES.items()}
SeriesSamples = tuple[Labels, list[tuple[int, float]]]
HistogramSamples = list[tuple[Labels, int, FloatHistogram]]


@dataclass(slots=True)
class HistogramColumns:
    """A request's native histograms as columns (``histcolumns``): position ``k`` is
    ``series[k]``'s histogram at ``ts[k]``; a series is its label bytes (1.0) or its
    ``Labels`` (2.0)."""

    series: Sequence[Hashable]
    ts: npt.NDArray[np.int64]
    cols: HistCols


@dataclass(slots=True)
class DecodedV2:
    """One 2.0 request, every reference checked, nothing stored yet."""

    series: list[SeriesSamples] = field(default_factory=list)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    histograms: HistogramSamples = field(default_factory=list)
    exemplars: list[tuple[Labels, Exemplar]] = field(default_factory=list)
    # (series, created timestamp, its first sample's time, that sample's histogram or None)
    created: list[tuple[Labels, int, int, FloatHistogram | None]] = field(default_factory=list)
    # the histograms as columns instead of ``histograms`` (then empty)
    columns: HistogramColumns | None = None


class StoreUnavailableError(RuntimeError):
    """The store refuses all writes for now (closed for shutdown, opened read-only): the
    sender's batch is fine and should be retried, so this is a 503, not a 400."""


class WriteReceiver:
    """Appends decoded requests to a storage; keeps the label-bytes → ref cache."""

    def __init__(self, storage: Storage, registry: CollectorRegistry | None = None) -> None:
        self._storage = storage
        # where the requests' exemplars go (None: dropped, as Prometheus without exemplar storage)
        self.exemplars: ExemplarStore | None = None
        # --enable-feature=created-timestamp-zero-ingestion: 2.0's created timestamps stored as
        # a zero sample ahead of the series' first one
        self.ct_zero_ingestion = False
        self._cache: dict[bytes, int] = {}
        self._cache_epoch = 0  # the store's series GC epoch the cached refs belong to
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
        self.metadata: dict[str, Metadata] = {}  # by metric family, from 2.0 requests
        self._histograms = Counter(
            "guardia_remote_write_histograms_dropped_total",
            "Native histogram samples received and not stored (the storage takes float samples only).",
            registry=reg,
        )
        self._histograms_in = Counter(
            "guardia_remote_write_histograms_received_total",
            "Native histogram samples accepted through the remote write receiver.",
            registry=reg,
        )

    def _append_histograms(self, hists: HistogramSamples) -> int:
        """Store decoded histogram samples in their own commit; returns how many were stored.
        Refused ones (out of order, duplicate, too old) fail the request as samples do."""
        if not hists:
            return 0
        app = self._storage.appender()
        add = getattr(app, "append_histogram", None)  # the agent's store has none
        if add is None:
            app.rollback()
            self._histograms.inc(len(hists))
            return 0
        def add_all() -> None:
            for labels, t, h in hists:
                add(labels, t, h)

        return self._commit_histograms(app, add_all, len(hists))

    def _commit_histograms(self, app: Appender, fill: Callable[[], None], n: int) -> int:
        """``fill`` the appender and commit: a store failure is a 503 (retried), refused samples
        a 400 naming why (both receive paths count and word them alike)."""
        try:
            fill()
            stats = app.commit()
        except AppendError as e:
            app.rollback()
            raise StoreUnavailableError(str(e)) from None
        self._histograms_in.inc(stats.appended)
        if stats.rejected:
            self._rejected.inc(stats.rejected)
            raise RemoteWriteError(
                f"{stats.rejected} of {n} histogram samples refused: "
                f"out_of_order={stats.out_of_order} duplicate={stats.duplicate} "
                f"out_of_bounds={stats.out_of_bounds}"
            )
        return int(stats.appended)

    def _append_columns(self, hc: HistogramColumns, labels_of: Callable[[Hashable], Labels],
                        cached: bool) -> int:
        """``_append_histograms`` of columns: one ``append_histograms`` call, no object per
        histogram; the same series created in the same order, the same samples stored and
        refused.  ``labels_of`` gives a series' label set; ``cached``: the series are 1.0
        label bytes, looked up (and kept) in the ref cache."""
        n = len(hc.series)
        if not n:
            return 0
        app = self._storage.appender()
        if getattr(app, "append_histogram", None) is None:  # the agent's store
            app.rollback()
            self._histograms.inc(n)
            return 0
        batch = getattr(app, "append_histograms", None)
        if batch is None:  # a store that takes objects only
            app.rollback()
            objs = hc.cols.objects().tolist()
            return self._append_histograms([(labels_of(k), t, h) for k, t, h in
                                            zip(hc.series, hc.ts.tolist(), objs, strict=True)])
        def add_all() -> None:
            batch(self._series_refs(app, hc.series, labels_of, cached), hc.ts, hc.cols)

        return self._commit_histograms(app, add_all, n)

    def _series_refs(self, app: object, series: Sequence[Hashable], labels_of: Callable[[Hashable], Labels],
                     cached: bool) -> npt.NDArray[np.int64]:
        """The ref of each position's series, new series created in order of first
        appearance (as ``append_histogram`` one by one creates them)."""
        ref = app.ref  # type: ignore[attr-defined]
        found: dict[Hashable, int] = {}
        if cached:
            pin = getattr(app, "pin", None)
            epoch = pin() if pin is not None else getattr(app, "ref_epoch", 0)
            if epoch != self._cache_epoch:
                self._cache.clear()
                self._cache_epoch = epoch
            cache = self._cache
            for key in dict.fromkeys(series):
                r = cache.get(key)  # type: ignore[call-overload]
                if r is None:
                    r = ref(labels_of(key))
                    if len(cache) >= _REF_CACHE_LIMIT:
                        cache.clear()
                    cache[key] = r  # type: ignore[index]
                found[key] = r
        else:
            for key in dict.fromkeys(series):
                found[key] = ref(labels_of(key))
        return np.fromiter(map(found.__getitem__, series), dtype=np.int64, count=len(series))

    def ingest_v2(self, payload: bytes) -> tuple[int, int, int]:
        """Decode and append one decompressed 2.0 Request; returns the samples, histograms and
        exemplars written (what the ``X-Prometheus-Remote-Write-*-Written`` headers say)."""
        try:
            dec = self._decode_v2_columns(payload)
        except RemoteWriteError:
            self._bad.inc()
            raise
        series, meta, hists = dec.series, dec.metadata, dec.histograms
        if self.ct_zero_ingestion and dec.created:
            self._append_created(dec.created)
        app = self._storage.appender()
        n = 0
        try:
            for labels, samples in series:
                ref = app.ref(labels)
                for t, v in samples:
                    app.append(ref, t, v)
                n += len(samples)
        except AppendError as e:
            app.rollback()
            self._rejected.inc(n)
            raise RemoteWriteError(f"sample refused by the store: {e}") from None
        try:
            stats = app.commit()
        except AppendError as e:
            raise StoreUnavailableError(str(e)) from None
        self._samples.inc(stats.appended)
        if len(self.metadata) + len(meta) > _METADATA_LIMIT:
            self.metadata.clear()
        self.metadata.update(meta)
        if stats.rejected:
            self._rejected.inc(stats.rejected)
            raise RemoteWriteError(
                f"{stats.rejected} of {n} samples refused: out_of_order={stats.out_of_order} "
                f"duplicate={stats.duplicate} out_of_bounds={stats.out_of_bounds} too_old={stats.too_old}"
            )
        if dec.columns is not None:
            written_h = self._append_columns(dec.columns, _same_labels, cached=False)
        else:
            written_h = self._append_histograms(hists)
        written_e = 0
        if dec.exemplars and self.exemplars is not None:
            written_e = len(dec.exemplars) - self.exemplars.add_many(dec.exemplars)
        return stats.appended, written_h, written_e

    def _append_created(self, created: list[tuple[Labels, int, int, FloatHistogram | None]]) -> None:
        """A zero sample at each created timestamp older than its series' first sample, in a
        commit of its own: one that is out of order (the zero was stored by an earlier request)
        or a duplicate is dropped without failing the request, as Prometheus ignores it."""
        app = self._storage.appender()
        add_h = getattr(app, "append_histogram", None)
        try:
            for labels, ct, first, h in created:
                if ct >= first:
                    continue  # a created time at or after the sample says nothing: Prometheus skips it
                if h is None:
                    app.append(app.ref(labels), ct, 0.0)
                elif add_h is not None:
                    add_h(labels, ct, h.empty_like())
            app.commit()
        except AppendError:
            app.rollback()

    @staticmethod
    def _decode_v2_columns(payload: bytes) -> DecodedV2:
        """``_decode_v2`` with the native histograms as columns (``DecodedV2.columns``) when
        ``histcolumns`` can give them.  A request the columns path cannot take or refuses is
        decoded again the object way, which names the first error exactly as it always has."""
        try:
            dec = WriteReceiver._decode_v2_as(payload, columns=True)
        except RemoteWriteError:
            dec = None
        return dec if dec is not None else WriteReceiver._decode_v2(payload)

    @staticmethod
    def _decode_v2(payload: bytes) -> DecodedV2:
        """The request's series with their samples, metadata by family, native histogram
        samples (objects), exemplars and created timestamps; every reference is checked
        before anything is stored."""
        dec = WriteReceiver._decode_v2_as(payload, columns=False)
        assert dec is not None
        return dec

    @staticmethod
    def _decode_v2_as(payload: bytes, columns: bool) -> DecodedV2 | None:
        """``_decode_v2``, the histograms as objects or (``columns``) as columns; None when
        they cannot be columns."""
        from guardia.storage.remote.proto import (  # see decode._decode
            ProtobufDecodeError,
            V2Exemplar,
            V2Request,
        )

        req = V2Request()
        try:
            req.ParseFromString(payload)
        except ProtobufDecodeError as e:
            raise RemoteWriteError(f"protobuf: not an io.prometheus.write.v2.Request: {e}") from None
        symbols = list(req.symbols)
        if req.timeseries and (not symbols or symbols[0] != ""):
            raise RemoteWriteError("symbols must start with the empty string (remote write 2.0)")
        nsym = len(symbols)
        dec = DecodedV2()
        out, meta, hists = dec.series, dec.metadata, dec.histograms
        h_series: list[Labels] = []  # columns: each histogram's series and message
        h_raws: list[bytes] = []
        h_created: list[tuple[int, Labels, int, int]] = []  # (at in created, series, from, to)
        for i, ts in enumerate(req.timeseries):
            labels = _labels_v2(list(ts.labels_refs), symbols, f"timeseries[{i}]")
            if not labels.name:
                raise RemoteWriteError(f"timeseries[{i}]: no metric name (__name__): {dict(labels)}")
            if columns:
                raws = list(ts.histograms)
                h_series += [labels] * len(raws)
                h_raws += raws
            else:
                for k, raw in enumerate(ts.histograms):
                    t, h = decode_histogram(raw, f"timeseries[{i}].histograms[{k}]")
                    hists.append((labels, t, h))
            if ts.samples and ts.histograms:
                raise RemoteWriteError(f"timeseries[{i}]: samples and histograms in one series")
            if ts.created_timestamp < 0:
                raise RemoteWriteError(f"timeseries[{i}]: negative created_timestamp")
            if ts.created_timestamp and ts.samples:
                dec.created.append((labels, ts.created_timestamp, min(x.timestamp for x in ts.samples), None))
            elif ts.created_timestamp and ts.histograms and columns:
                h_created.append((len(dec.created), labels, len(h_raws) - len(ts.histograms), len(h_raws)))
                dec.created.append((labels, ts.created_timestamp, 0, None))  # completed below
            elif ts.created_timestamp and ts.histograms:
                first = min(hists[len(hists) - len(ts.histograms):], key=lambda e: e[1])
                dec.created.append((labels, ts.created_timestamp, first[1], first[2]))
            for k, raw in enumerate(ts.exemplars):
                where = f"timeseries[{i}].exemplars[{k}]"
                try:
                    msg = V2Exemplar.FromString(raw)
                except ProtobufDecodeError as e:
                    raise RemoteWriteError(f"{where}: not an Exemplar: {e}") from None
                ex_labels = _labels_v2(list(msg.labels_refs), symbols, where)
                dec.exemplars.append((labels, Exemplar(ex_labels, float(msg.value), int(msg.timestamp))))
            if ts.HasField("metadata"):
                md = ts.metadata
                if md.help_ref >= nsym or md.unit_ref >= nsym:
                    raise RemoteWriteError(f"timeseries[{i}]: metadata refers to a symbol beyond {nsym}")
                family = labels.name
                for suffix in ("_total", "_bucket", "_count", "_sum", "_created", "_info"):
                    if md.type in (1, 3, 5, 6) and family.endswith(suffix):
                        family = family[: -len(suffix)]
                        break
                meta[family] = (family, _TYPE_NAMES.get(md.type, "unknown"), symbols[md.help_ref],
                                symbols[md.unit_ref])
            if ts.samples:
                out.append((labels, [(s.timestamp, s.value) for s in ts.samples]))
        if h_raws:
            got = decode_columns(h_raws)
            if got is None:
                return None
            h_ts, cols = got
            for at, labels, a, b in h_created:  # the series' first histogram, as the object path picks it
                k = a + int(np.argmin(h_ts[a:b]))
                dec.created[at] = (labels, dec.created[at][1], int(h_ts[k]),
                                   cols.take(np.array([k])).objects()[0])
            dec.columns = HistogramColumns(h_series, h_ts, cols)
        return dec

    def ingest(self, payload: bytes) -> int:
        """Decode and append one decompressed WriteRequest; return samples appended."""
        app = self._storage.appender()
        pin = getattr(app, "pin", None)  # GC waits from here to the commit; see TSDBAppender.pin
        epoch = pin() if pin is not None else getattr(app, "ref_epoch", 0)
        if epoch != self._cache_epoch:
            # the store's series GC renumbered its refs: the cached ones mean nothing now
            self._cache.clear()
            self._cache_epoch = epoch
        try:
            dec = decode_write_request(payload, self._cache)
            new_labels = [decode_labels(k) for k in dec.new_keys]
            hists: HistogramSamples = []
            hcols, known = self._histogram_columns_v1(dec.histograms)
            if hcols is None:
                for i, (key, raw) in enumerate(dec.histograms):
                    t, h = decode_histogram(raw, f"histogram {i}")
                    hists.append((decode_labels(key), t, h))
        except RemoteWriteError:
            self._bad.inc()
            app.rollback()  # pinned: let GC go now, not when the appender is collected
            raise
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
        if dec.exemplars and self.exemplars is not None:
            self._store_exemplars(dec.exemplars)
        if hcols is not None:
            self._append_columns(hcols, _label_bytes_reader(known), cached=True)
        else:
            self._append_histograms(hists)
        if stats.rejected:
            self._rejected.inc(stats.rejected)
            raise RemoteWriteError(
                f"{stats.rejected} of {ts.shape[0]} samples refused: out_of_order={stats.out_of_order} "
                f"duplicate={stats.duplicate} out_of_bounds={stats.out_of_bounds} too_old={stats.too_old}"
            )
        return stats.appended

    def _histogram_columns_v1(self, found: list[tuple[bytes, bytes]]) -> tuple[HistogramColumns | None,
                                                                                 dict[bytes, Labels]]:
        """A 1.0 request's (label bytes, Histogram message) pairs as columns, with the label
        sets of the series not in the ref cache (decoded, so checked, before anything is
        stored); (None, {}) when the object path must decode them.  Every message is valid
        here, so the first bad label set is the one the object path would name first."""
        if not found:
            return None, {}
        got = decode_columns([raw for _, raw in found])
        if got is None:
            return None, {}
        keys = [key for key, _ in found]
        cache = self._cache
        known = {key: decode_labels(key) for key in dict.fromkeys(keys) if key not in cache}
        return HistogramColumns(keys, got[0], got[1]), known

    def _store_exemplars(self, found: list[tuple[bytes, bytes]]) -> None:
        """Exemplars are best effort, as in Prometheus: one out of order or malformed is
        dropped (and counted by the store) without failing the request's samples."""
        assert self.exemplars is not None
        from guardia.storage.remote.proto import Exemplar as ExemplarMessage  # see decode._decode
        from guardia.storage.remote.proto import ProtobufDecodeError

        items = []
        for key, raw in found:
            try:
                msg = ExemplarMessage.FromString(raw)
            except ProtobufDecodeError:
                continue
            labels = Labels((lb.name, lb.value) for lb in msg.labels)
            items.append((decode_labels(key), Exemplar(labels, float(msg.value), int(msg.timestamp))))
        self.exemplars.add_many(items)

    def ingest_compressed(self, body: bytes) -> int:
        """Decompress (snappy) and ``ingest`` one request body."""
        try:
            payload = decompress(body)
        except RemoteWriteError:
            self._bad.inc()
            raise
        return self.ingest(payload)

    def ingest_compressed_v2(self, body: bytes) -> tuple[int, int, int]:
        """Decompress (snappy) and ``ingest_v2`` one 2.0 request body."""
        try:
            payload = decompress(body)
        except RemoteWriteError:
            self._bad.inc()
            raise
        return self.ingest_v2(payload)


def _label_bytes_reader(known: dict[bytes, Labels]) -> Callable[[Hashable], Labels]:
    """A 1.0 columns position's series: its label set, decoded already or now (a cached
    series' bytes were checked when first seen)."""

    def labels_of(series: Hashable) -> Labels:
        assert isinstance(series, bytes)
        got = known.get(series)
        return got if got is not None else decode_labels(series)

    return labels_of


def _same_labels(series: Hashable) -> Labels:
    """A 2.0 columns position's series is its label set already."""
    assert isinstance(series, Labels)
    return series


def _labels_v2(refs: list[int], symbols: list[str], where: str) -> Labels:
    """A label set from 2.0 symbol references: pairs below the table's length; any non-empty
    UTF-8 name (Prometheus 3), an empty value meaning no label."""
    nsym = len(symbols)
    if len(refs) % 2 or any(r >= nsym for r in refs):
        raise RemoteWriteError(f"{where}: labels_refs must be pairs of symbol references below {nsym}")
    pairs: dict[str, str] = {}
    for k in range(0, len(refs), 2):
        name, value = symbols[refs[k]], symbols[refs[k + 1]]
        if not name:
            raise RemoteWriteError(f"{where}: empty label name")
        if name in pairs:
            raise RemoteWriteError(f"{where}: duplicate label name {name!r}")
        if value:
            pairs[name] = value
    return Labels(pairs)

