"""Remote write 2.0 receiving beyond samples: UTF-8 label names, exemplars (stored, counted in
the Exemplars-Written header), and created timestamps as a zero sample with
``created-timestamp-zero-ingestion`` (into the embedded TSDB, whose out-of-order refusals the
zero must never turn into a failed request)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guardia.model import Labels, Matcher
from guardia.model.histogram import FloatHistogram
from guardia.storage.exemplars import ExemplarStore
from guardia.storage.remote import WriteReceiver
from guardia.storage.remote.decode import RemoteWriteError
from guardia.storage.remote.proto import Histogram, V2Exemplar, V2Request
from guardia.storage.tsdb import TSDB, TSDBOptions

NOW = 1_700_000_000_000


def _request(symbols: list[str], series: list[dict[str, Any]]) -> bytes:
    req = V2Request()
    req.symbols.extend(symbols)
    for s in series:
        ts = req.timeseries.add()
        ts.labels_refs.extend(s["refs"])
        for t, v in s.get("samples", []):
            ts.samples.add(timestamp=t, value=v)
        for h in s.get("histograms", []):
            ts.histograms.append(h)
        for refs, value, t in s.get("exemplars", []):
            ex = V2Exemplar()
            ex.labels_refs.extend(refs)
            ex.value, ex.timestamp = value, t
            ts.exemplars.append(ex.SerializeToString())
        if "ct" in s:
            ts.created_timestamp = s["ct"]
    return bytes(req.SerializeToString())


@pytest.fixture
def db(tmp_path: Path) -> Any:
    d = TSDB.open(tmp_path / "data", TSDBOptions())
    yield d
    d.close()


def _floats(db: Any, name: str) -> dict[Labels, list[tuple[int, float]]]:
    q = db.querier(0, 2**62)
    try:
        return {s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
                for s in q.select([Matcher.equal("__name__", name)])}
    finally:
        q.close()


SYMBOLS = ["", "__name__", "http.server.requests", "k8s.pod.name", "api-0", "trace_id", "abc123",
           "pedidos_total", "tienda"]


def test_utf8_names_and_exemplars_are_stored_and_counted(db: Any) -> None:
    rx = WriteReceiver(db)
    rx.exemplars = ExemplarStore(100)
    body = _request(SYMBOLS, [
        {"refs": [1, 2, 3, 4], "samples": [(NOW, 3.0)], "exemplars": [([5, 6], 0.25, NOW - 10)]},
        {"refs": [1, 7, 8, 4], "samples": [(NOW, 1.0)],
         "exemplars": [([5, 6], 2.0, NOW - 5), ([5, 6], 1.0, NOW - 7)]},  # the second is out of order
    ])
    samples, hists, exemplars = rx.ingest_v2(body)
    assert (samples, hists) == (2, 0)
    assert exemplars == 2  # the out-of-order one is refused, not counted, and fails nothing
    assert _floats(db, "http.server.requests") == {
        Labels({"__name__": "http.server.requests", "k8s.pod.name": "api-0"}): [(NOW, 3.0)]}
    got = rx.exemplars.select(0, 2**62, [[Matcher.equal("__name__", "http.server.requests")]])
    assert [(se.series.name, e.labels, e.value, e.timestamp_ms) for se in got for e in se.exemplars] == [
        ("http.server.requests", Labels({"trace_id": "abc123"}), 0.25, NOW - 10)]


@pytest.mark.parametrize("refs, reason", [
    ([1, 2, 3, 40], "below 9"),
    ([1, 2, 0, 4], "empty label name"),
])
def test_bad_exemplar_or_label_references_refuse_the_request(db: Any, refs: list[int], reason: str) -> None:
    rx = WriteReceiver(db)
    rx.exemplars = ExemplarStore(100)
    good = {"refs": [1, 7], "samples": [(NOW, 1.0)]}
    bad_labels = {"refs": refs, "samples": [(NOW, 1.0)]}
    bad_exemplar = {"refs": [1, 7, 8, 4], "samples": [(NOW, 1.0)], "exemplars": [(refs[2:], 1.0, NOW)]}
    for bad in (bad_labels, bad_exemplar):
        with pytest.raises(RemoteWriteError, match=reason):
            rx.ingest_v2(_request(SYMBOLS, [good, bad]))
    assert _floats(db, "pedidos_total") == {}


def test_created_timestamps_become_a_zero_sample_only_with_the_feature(db: Any) -> None:
    counter = Labels({"__name__": "pedidos_total", "tienda": "api-0"})
    series = {"refs": [1, 7, 8, 4], "samples": [(NOW, 5.0), (NOW + 15_000, 7.0)], "ct": NOW - 30_000}
    off = WriteReceiver(db)
    assert off.ingest_v2(_request(SYMBOLS, [series]))[0] == 2
    assert _floats(db, "pedidos_total") == {counter: [(NOW, 5.0), (NOW + 15_000, 7.0)]}

    on = WriteReceiver(db)
    on.ct_zero_ingestion = True
    fresh = {"refs": [1, 7, 8, 6], "samples": [(NOW, 5.0)], "ct": NOW - 30_000}
    same_ct_later = {"refs": [1, 7, 8, 6], "samples": [(NOW + 15_000, 8.0)], "ct": NOW - 30_000}
    ct_after_sample = {"refs": [1, 7, 8, 2], "samples": [(NOW, 1.0)], "ct": NOW + 1}
    assert on.ingest_v2(_request(SYMBOLS, [fresh, ct_after_sample]))[0] == 2
    # the next request repeats the created timestamp: its zero is out of order now and is
    # dropped without failing the request
    assert on.ingest_v2(_request(SYMBOLS, [same_ct_later]))[0] == 1
    got = _floats(db, "pedidos_total")
    assert got[Labels({"__name__": "pedidos_total", "tienda": "abc123"})] == [
        (NOW - 30_000, 0.0), (NOW, 5.0), (NOW + 15_000, 8.0)]
    assert got[Labels({"__name__": "pedidos_total", "tienda": "http.server.requests"})] == [(NOW, 1.0)]


def test_a_created_timestamp_on_a_native_histogram_is_an_empty_histogram(db: Any) -> None:
    h = Histogram(count_int=3, sum=1.5, schema=0, timestamp=NOW)
    h.positive_spans.add(offset=0, length=1)
    h.positive_deltas.append(3)
    rx = WriteReceiver(db)
    rx.ct_zero_ingestion = True
    _, hists, _ = rx.ingest_v2(_request(SYMBOLS, [{"refs": [1, 2], "histograms": [h.SerializeToString()],
                                                  "ct": NOW - 60_000}]))
    assert hists == 1
    q = db.querier(0, 2**62)
    try:
        (s,) = q.select([Matcher.equal("__name__", "http.server.requests")])
    finally:
        q.close()
    assert s.timestamps.tolist() == [NOW - 60_000, NOW]
    assert s.histograms is not None
    zero, first = s.histograms
    assert isinstance(zero, FloatHistogram) and zero.count == 0 and zero.schema == 0 and not zero.positive
    assert first.count == 3
