"""Remote write requests built in bulk decode, with the protobuf library, to what was sent."""

from __future__ import annotations

import numpy as np

from guardia.model import Labels
from guardia.storage.remote.decode import decompress
from guardia.storage.remote.encode import PrefixTable, compress, encode_labels
from guardia.storage.remote.metadata import encode_metadata
from guardia.storage.remote.proto import WriteRequest


def _decoded(body: bytes) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    req = WriteRequest()
    req.ParseFromString(decompress(compress(body)))
    return [({lb.name: lb.value for lb in ts.labels}, [(s.timestamp, s.value) for s in ts.samples])
            for ts in req.timeseries]


def test_each_sample_is_one_series_with_its_labels() -> None:
    table = PrefixTable()
    a = Labels({"__name__": "http_requests_total", "job": "api", "path": "/ü" * 80})  # 2-byte lengths
    b = Labels({"__name__": "up"})
    table.add(7, encode_labels(a))
    table.add(2000, encode_labels(b))  # refs need not be dense
    refs = np.array([7, 2000, 7], dtype=np.int64)
    ts = np.array([1_700_000_000_000, 1_700_000_000_001, 2**42 - 1], dtype=np.int64)
    vs = np.array([1.5, 0.0, -np.inf])
    assert _decoded(table.encode(refs, ts, vs)) == [
        (dict(a), [(1_700_000_000_000, 1.5)]), (dict(b), [(1_700_000_000_001, 0.0)]),
        (dict(a), [(2**42 - 1, -np.inf)]),
    ]


def test_timestamps_outside_the_fast_range_take_the_general_path() -> None:
    table = PrefixTable()
    table.add(0, encode_labels(Labels({"__name__": "m"})))
    refs = np.zeros(3, dtype=np.int64)
    ts = np.array([0, -5000, 2**50], dtype=np.int64)
    got = _decoded(table.encode(refs, ts, np.array([1.0, 2.0, 3.0])))
    assert [s for _, s in got] == [[(0, 1.0)], [(-5000, 2.0)], [(2**50, 3.0)]]


def test_metadata_is_a_request_of_metric_metadata() -> None:
    req = WriteRequest()
    req.ParseFromString(encode_metadata([("http_requests_total", "counter", "Requests.", ""),
                                         ("temp", "gauge", "", "celsius"), ("odd", "unknown", "", "")]))
    got = [(m.metric_family_name, m.type, m.help, m.unit) for m in req.metadata]
    assert got == [("http_requests_total", 1, "Requests.", ""), ("temp", 2, "", "celsius"),
                   ("odd", 0, "", "")]


def test_2_0_requests_carry_labels_samples_and_metadata_through_the_symbol_table() -> None:
    import numpy as np

    from guardia.model import Labels
    from guardia.storage.remote.encode_v2 import V2Encoder, family_metadata
    from guardia.storage.remote.proto import V2Request
    from guardia.storage.remote.write_receiver import WriteReceiver

    enc = V2Encoder()
    enc.add(0, Labels({"__name__": "http_requests_total", "code": "200"}))
    enc.add(3, Labels({"__name__": "temperature", "room": "a b"}))
    meta = family_metadata({"http_requests": ("http_requests", "counter", "Requests served.", ""),
                            "temperature": ("temperature", "gauge", "", "celsius")})
    refs = np.array([0, 3, 0], np.int64)
    ts = np.array([1_700_000_000_000, 1_700_000_000_001, 1_700_000_015_000], np.int64)
    vs = np.array([1.0, -3.5, 2.0])
    raw = enc.encode(refs, ts, vs, meta)
    req = V2Request()
    req.ParseFromString(raw)
    assert req.symbols[0] == "" and len(set(req.symbols)) == len(req.symbols)  # each string once
    dec = WriteReceiver._decode_v2(raw)
    series, md, histograms = dec.series, dec.metadata, dec.histograms
    assert histograms == []
    assert series == [(Labels({"__name__": "http_requests_total", "code": "200"}),
                       [(1_700_000_000_000, 1.0), (1_700_000_015_000, 2.0)]),
                      (Labels({"__name__": "temperature", "room": "a b"}), [(1_700_000_000_001, -3.5)])]
    assert md == {"http_requests": ("http_requests", "counter", "Requests served.", ""),
                  "temperature": ("temperature", "gauge", "", "celsius")}


def test_native_histograms_decode_with_the_protobuf_library_as_sent() -> None:
    """Integer histograms go with deltas and the ``*_int`` fields, the others with absolute
    counts and the ``*_float`` ones (the oneof written even when 0); every kind comes back."""
    import math

    from guardia.model.histogram import FloatHistogram
    from guardia.storage.remote.encode_histograms import encode_v1, is_integer
    from guardia.storage.remote.histograms import decode_histogram

    cases = [
        FloatHistogram(schema=3, count=10, sum=12.5, zero_threshold=1e-3, zero_count=2,
                       positive={-2: 1, -1: 2, 3: 4}, negative={0: 1}, counter_reset_hint=2),
        FloatHistogram(schema=-4, count=0.5, sum=-1.0, positive={1: 0.25}, negative={-3: 0.25},
                       counter_reset_hint=3),
        FloatHistogram(schema=-53, count=4.5, sum=7.25, custom_values=[0.5, 1.0, 5.0],
                       positive={0: 1.5, 2: 3.0}),
        FloatHistogram(schema=0, count=0.0, sum=math.inf),
        FloatHistogram(schema=8, count=2.0**63, sum=1.0, positive={100: 2.0**63}),  # too big for uint64
    ]
    label_fields = encode_labels(Labels({"__name__": "h", "a": "b"}))
    samples = [(1_700_000_000_000 + k, h) for k, h in enumerate(cases)]
    req = WriteRequest()
    req.ParseFromString(decompress(compress(encode_v1([(label_fields, samples)]))))
    (ts,) = req.timeseries
    assert {lb.name: lb.value for lb in ts.labels} == {"__name__": "h", "a": "b"}
    assert [is_integer(h) for h in cases] == [True, False, False, True, False]
    for (t, h), m in zip(samples, ts.histograms, strict=True):
        assert m.WhichOneof("count") == ("count_int" if is_integer(h) else "count_float")
        assert m.WhichOneof("zero_count") == ("zero_count_int" if is_integer(h) else "zero_count_float")
        assert decode_histogram(m.SerializeToString()) == (t, h)
    assert list(ts.histograms[0].positive_deltas) == [1, 1, 2]  # 1, 2, 4 as deltas


def test_2_0_histogram_requests_decode_through_the_symbol_table() -> None:
    from guardia.model.histogram import FloatHistogram
    from guardia.storage.remote.encode_v2 import encode_histograms, family_metadata
    from guardia.storage.remote.proto import V2Request
    from guardia.storage.remote.write_receiver import WriteReceiver

    a = FloatHistogram(schema=1, count=3, sum=2.5, positive={0: 1, 1: 2})
    b = FloatHistogram(schema=-53, count=1.5, sum=1.0, custom_values=[1.0], positive={1: 1.5})
    meta = family_metadata({"rpc_seconds": ("rpc_seconds", "histogram", "RPC time.", "seconds")})
    raw = encode_histograms([((("__name__", "rpc_seconds"), ("job", "x")), [(1000, a), (2000, b)])], meta)
    req = V2Request()
    req.ParseFromString(raw)
    assert req.symbols[0] == "" and len(set(req.symbols)) == len(req.symbols)
    (ts,) = req.timeseries
    assert ts.metadata.type == 3 and req.symbols[ts.metadata.help_ref] == "RPC time."
    _dec = WriteReceiver._decode_v2(raw)
    series, md, hists = _dec.series, _dec.metadata, _dec.histograms
    assert series == [] and md["rpc_seconds"] == ("rpc_seconds", "histogram", "RPC time.", "seconds")
    lb = Labels({"__name__": "rpc_seconds", "job": "x"})
    assert hists == [(lb, 1000, a), (lb, 2000, b)]
