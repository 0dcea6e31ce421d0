"""Remote write 1.0 receiving (decode + append): payloads encoded by the protobuf library,
decoded by hand and appended to a store.  The HTTP endpoint's tests are tests/web/test_remote_write.py."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from guardia.model import Labels, Matcher, MatchType
from guardia.model.histogram import NOT_COUNTER_RESET
from guardia.storage.memory import MemoryStorage
from guardia.storage.remote import WriteReceiver
from guardia.storage.remote.decode import RemoteWriteError, decode_labels, decode_write_request
from guardia.storage.remote.proto import Histogram, WriteRequest, encode_write_request


def _all(st: MemoryStorage, name: str) -> dict[Labels, list[tuple[int, float]]]:
    q = st.querier(-(2**62), 2**62)
    return {
        s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        for s in q.select([Matcher.equal("__name__", name)])
    }


def test_decoder_matches_protobuf_for_awkward_values() -> None:
    series = [
        (
            {"__name__": "m", "a": "1"},
            [(1_700_000_000_123, 0.0), (1_700_000_000_456, 1.5)],
        ),  # zero value omitted
        ({"__name__": "m", "a": "2"}, [(0, 3.0)]),  # zero timestamp omitted
        ({"__name__": "m", "a": "3"}, [(-5000, -2.5)]),  # negative timestamp: 10-byte varint
        ({"__name__": "m", "a": "4"}, [(1, math.inf), (2, -0.0)]),
        ({"__name__": "m", "a": "ü" * 100}, [(2**40, 1e300)]),  # long label: 2-byte length varint
    ]
    raw = encode_write_request(series)
    dec = decode_write_request(raw, {})
    labels = [decode_labels(k) for k in dec.new_keys]
    got = sorted(
        (dict(labels[-1 - r]).get("a"), t, v)
        for r, t, v in zip(dec.refs.tolist(), dec.timestamps.tolist(), dec.values.tolist(), strict=True)
    )
    want = sorted((lbl["a"], t, v) for lbl, samples in series for t, v in samples)
    assert got == want


def _decoded(raw: bytes, cache: dict[bytes, int]) -> list[tuple[int, int, float]]:
    dec = decode_write_request(raw, cache)
    assert dec.new_keys == [] or not cache
    return sorted(zip(dec.refs.tolist(), dec.timestamps.tolist(), dec.values.tolist(), strict=True))


def test_known_series_in_every_sample_shape_decode_as_on_first_sight() -> None:
    """The steady-state guess (labels + one 16-byte sample) must give way for every other
    shape: timestamps of 1 to 10 varint bytes, zero values (field omitted), two samples."""
    stamps = [1, 200, 20_000, 2**21 + 5, 2**28 + 1, 2**35 + 1, 2**42 + 1, 2**49 + 1, 2**56 + 1, -1]
    series = [({"__name__": "m", "i": str(i)}, [(t, 0.25 * i)]) for i, t in enumerate(stamps)]
    series += [({"__name__": "zero"}, [(1_700_000_000_000, 0.0)])]
    series += [({"__name__": "two"}, [(1_700_000_000_000, 1.0), (1_700_000_015_000, 2.0)])]
    raw = encode_write_request(series)
    cold = decode_write_request(raw, {})
    cache = {k: 100 + i for i, k in enumerate(cold.new_keys)}
    warm = _decoded(raw, cache)
    assert warm == sorted((100 + (-1 - r), t, v) for r, t, v in _decoded(raw, {}))
    want = sorted((t, v) for _, samples in series for t, v in samples)
    assert sorted((t, v) for _, t, v in warm) == want


def test_cache_hit_skips_label_decoding() -> None:
    raw = encode_write_request([({"__name__": "m"}, [(1000, 1.0)])])
    first = decode_write_request(raw, {})
    cache = {first.new_keys[0]: 42}
    second = decode_write_request(raw, cache)
    assert second.new_keys == [] and second.refs.tolist() == [42]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (encode_write_request([({"__name__": "m"}, [(1000, 1.0)])])[:-3], "truncated"),
        (b"\x0a\x05\x0a\x03\x0a\x01", "overruns"),
        (encode_write_request([({"a": "1"}, [(1000, 1.0)])]), "metric name"),
        (encode_write_request([({"__name__": "m", "": "1"}, [(1000, 1.0)])]), "invalid label name"),
        (b"\x0f", "wire type"),
    ],
)
def test_bad_payloads_are_refused_with_reason(raw: bytes, reason: str) -> None:
    st = MemoryStorage()
    rx = WriteReceiver(st)
    with pytest.raises(RemoteWriteError, match=reason):
        rx.ingest(raw)
    assert st.querier(-(2**62), 2**62).label_names() == []


def test_duplicate_label_names_are_refused() -> None:
    req = WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="m")
    ts.labels.add(name="job", value="a")
    ts.labels.add(name="job", value="b")
    ts.samples.add(value=1, timestamp=1)
    with pytest.raises(RemoteWriteError, match="duplicate label name"):
        WriteReceiver(MemoryStorage()).ingest(req.SerializeToString())


def test_batch_with_many_timestamps_is_appended_in_time_order() -> None:
    st = MemoryStorage()
    ts = np.arange(100) * 1000
    raw = encode_write_request([({"__name__": "m"}, [(int(t), float(t)) for t in ts[::-1]])])
    assert WriteReceiver(st).ingest(raw) == 100
    assert [t for t, _ in _all(st, "m")[Labels.of(__name__="m")]] == ts.tolist()


def test_corrupted_payloads_never_crash_or_store_partially() -> None:
    """Random byte flips, truncations and insertions: a clean 400-style error or a valid decode."""
    import random

    rng = random.Random(1234)
    good = encode_write_request(
        [({"__name__": "m", "i": str(i), "path": "/x" * (i % 70)}, [(1000 + i, float(i)), (2000, 0.0)])
         for i in range(30)]
    )
    for _ in range(400):
        b = bytearray(good)
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            del b[rng.randrange(len(b)) :]
        else:
            pos = rng.randrange(len(b))
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
        st = MemoryStorage()
        rx = WriteReceiver(st)
        try:
            rx.ingest(bytes(b))
        except RemoteWriteError:
            assert st.querier(-(2**62), 2**62).label_names() == []


def _histogram_request(ts: int) -> bytes:
    """A WriteRequest with one integer native histogram (deltas) and one float one (counts)."""
    req = WriteRequest()
    for name, fill in (("lat_int", "int"), ("lat_float", "float")):
        series = req.timeseries.add()
        series.labels.add(name="__name__", value=name)
        raw = Histogram(schema=0, sum=7.5, zero_threshold=0.001, timestamp=ts)
        raw.positive_spans.add(offset=-1, length=2)
        raw.positive_spans.add(offset=1, length=1)
        raw.negative_spans.add(offset=0, length=1)
        if fill == "int":
            raw.count_int, raw.zero_count_int = 9, 1
            raw.positive_deltas.extend([2, 1, -2])  # absolute 2, 3, 1
            raw.negative_deltas.extend([2])
            raw.reset_hint = 2
        else:
            raw.count_float, raw.zero_count_float = 9.5, 1.5
            raw.positive_counts.extend([2.0, 3.0, 1.0])
            raw.negative_counts.extend([2.0])
        series.ParseFromString(series.SerializeToString() + b"\x22" + _len(raw.SerializeToString()))
    return bytes(req.SerializeToString())


def _len(b: bytes) -> bytes:
    from guardia.model.varint import encode_varint

    return encode_varint(len(b)) + b


def test_native_histograms_are_stored() -> None:
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry()
    st = MemoryStorage()
    WriteReceiver(st, reg).ingest(_histogram_request(60_000))
    assert reg.get_sample_value("guardia_remote_write_histograms_received_total") == 2.0
    q = st.querier(-(2**62), 2**62)
    got = {s.labels.name: s for s in q.select([Matcher("__name__", MatchType.REGEX, "lat_.*")])}
    h = got["lat_int"].histograms[0]
    assert (h.count, h.zero_count, h.sum, h.counter_reset_hint) == (9, 1, 7.5, NOT_COUNTER_RESET)
    assert h.positive == {-1: 2.0, 0: 3.0, 2: 1.0} and h.negative == {0: 2.0}
    f = got["lat_float"].histograms[0]
    assert (f.count, f.zero_count) == (9.5, 1.5) and f.positive == {-1: 2.0, 0: 3.0, 2: 1.0}
    assert got["lat_int"].timestamps.tolist() == [60_000]


def test_malformed_histogram_is_refused_whole() -> None:
    req = WriteRequest()
    series = req.timeseries.add()
    series.labels.add(name="__name__", value="bad")
    raw = Histogram(schema=0, count_int=1)
    raw.positive_spans.add(offset=0, length=3)
    raw.positive_deltas.extend([1])  # three buckets announced, one given
    series.ParseFromString(series.SerializeToString() + b"\x22" + _len(raw.SerializeToString()))
    st = MemoryStorage()
    with pytest.raises(RemoteWriteError, match="spans need more buckets"):
        WriteReceiver(st).ingest(bytes(req.SerializeToString()))
    assert st.querier(-(2**62), 2**62).label_names() == []


def test_native_histograms_are_counted_where_not_storable() -> None:
    """A storage without ``append_histogram`` (agent mode) drops them, counted."""
    from prometheus_client import CollectorRegistry

    class FloatsOnly(MemoryStorage):
        def appender(self):  # type: ignore[no-untyped-def]
            app = super().appender()
            app.append_histogram = None  # type: ignore[assignment,method-assign]
            return app

    reg = CollectorRegistry()
    WriteReceiver(FloatsOnly(), reg).ingest(_histogram_request(0))
    assert reg.get_sample_value("guardia_remote_write_histograms_dropped_total") == 2.0


def test_metadata_and_unknown_fields_between_series_are_skipped() -> None:
    """Prometheus may put MetricMetadata (field 3) in a request; a newer sender may add fields
    we do not know.  Neither changes which samples are decoded."""
    req = WriteRequest()
    md = req.metadata.add()
    md.type, md.metric_family_name, md.help = 1, "m", "a counter"
    plain = encode_write_request([({"__name__": "m", "i": str(i)}, [(1000, float(i))]) for i in range(5)])
    unknown_varint, unknown_bytes = b"\x20\x07", b"\x2a\x03abc"  # fields 4 and 5
    # cut between whole series: find a series boundary in the plain encoding
    cut = 0
    while cut < len(plain) // 2:
        cut += 2 + plain[cut + 1]
    raw = req.SerializeToString() + plain[:cut] + unknown_varint + unknown_bytes + plain[cut:]
    st = MemoryStorage()
    assert WriteReceiver(st).ingest(raw) == 5
    assert sorted(v for [(_, v)] in _all(st, "m").values()) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_payload_only_upb_refuses_gets_a_generic_reason() -> None:
    """Field number 0 is invalid protobuf and upb refuses it; the field walker that explains
    refusals finds no finer reason, so the error says the request is malformed."""
    st = MemoryStorage()
    with pytest.raises(RemoteWriteError, match="protobuf: malformed WriteRequest"):
        WriteReceiver(st).ingest(b"\x02\x00" + encode_write_request([({"__name__": "m"}, [(1, 1.0)])]))
    assert st.querier(-(2**62), 2**62).label_names() == []


def test_value_whose_bytes_look_like_a_zero_value_tail_decodes_as_itself() -> None:
    """The last 9 bytes of a valued sample can read as the tail of a 0.0 sample (value bytes
    12 07, then the timestamp tag): the valued shape must win, warm or cold."""
    import struct

    (tricky,) = struct.unpack("<d", bytes([1, 2, 3, 4, 5, 6, 0x12, 0x07]))
    series = [
        ({"__name__": "m", "i": "tricky"}, [(1_700_000_000_000, tricky)]),
        ({"__name__": "m", "i": "zero"}, [(1_700_000_000_000, 0.0)]),
        ({"__name__": "m", "i": "one"}, [(1_700_000_000_000, 1.0)]),
    ]
    raw = encode_write_request(series)
    cold = decode_write_request(raw, {})
    cache = {k: 100 + i for i, k in enumerate(cold.new_keys)}
    warm = decode_write_request(raw, cache)
    assert warm.new_keys == []
    got = sorted(zip(warm.refs.tolist(), warm.values.tolist(), strict=True))
    want = sorted((100 + (-1 - r), v) for r, v in zip(cold.refs.tolist(), cold.values.tolist(), strict=True))
    assert got == want
    assert sorted(v for _, v in got) == sorted([0.0, 1.0, tricky])


@pytest.mark.parametrize("seed", range(4))
def test_many_samples_per_series_decode_as_protobuf_reads_them(seed: int) -> None:
    """Some senders (an OpenTelemetry exporter, a backfill) put many samples in one series:
    0.0 values and a 0 timestamp (both left out of the encoding), negative and small
    timestamps, specials, mixed within a series.  Known or new, every sample comes out as
    the protobuf library reads it."""
    rng = np.random.default_rng(seed)
    choices = [0.0, -0.0, 1.5, math.inf, -2.0, 1e300, float(2**53)]
    series = []
    for i in range(60):
        n = int(rng.integers(1, 25))
        stamps = np.unique(rng.integers(-5000, 2**43, n)).tolist()
        if i % 7 == 0:
            stamps[0] = 0
        vals = [choices[int(rng.integers(len(choices)))] if rng.random() < 0.4 else float(rng.normal())
                for _ in range(n)]
        series.append(({"__name__": "multi", "i": str(i)}, list(zip(stamps, vals, strict=True))))
    raw = encode_write_request(series)
    reference = WriteRequest.FromString(raw)
    want = sorted(
        (i, s.timestamp, struct.pack("<d", s.value))
        for i, ts in enumerate(reference.timeseries)
        for s in ts.samples
    )
    cold = decode_write_request(raw, {})
    cache = {k: i for i, k in enumerate(cold.new_keys)}
    for dec, to_index in ((cold, lambda r: -1 - r), (decode_write_request(raw, cache), lambda r: r)):
        got = sorted(
            (to_index(r), t, struct.pack("<d", v))
            for r, t, v in zip(dec.refs.tolist(), dec.timestamps.tolist(), dec.values.tolist(), strict=True)
        )
        assert got == want



def test_utf8_names_are_accepted_as_prometheus_3_does() -> None:
    st = MemoryStorage()
    rx = WriteReceiver(st)
    series = {"__name__": "http.server.duration", "k8s.pod.name": "a"}
    rx.ingest(encode_write_request([(series, [(1000, 1.0)])]))
    assert st.querier(0, 2000).label_values("k8s.pod.name") == ["a"]


def test_remote_write_2_histograms_are_stored_and_counted() -> None:
    from guardia.storage.remote.proto import V2Request

    req = V2Request()
    req.symbols.extend(["", "__name__", "lat", "job", "api"])
    ts = req.timeseries.add()
    ts.labels_refs.extend([1, 2, 3, 4])
    h = Histogram(schema=-53, count_int=3, sum=0.75, timestamp=5_000)
    h.custom_values.extend([0.25, 0.5])
    h.positive_spans.add(offset=0, length=3)
    h.positive_deltas.extend([1, 0, 0])
    ts.histograms.append(h.SerializeToString())
    st = MemoryStorage()
    assert WriteReceiver(st).ingest_v2(bytes(req.SerializeToString())) == (0, 1, 0)
    (s,) = st.querier(-(2**62), 2**62).select([Matcher.equal("__name__", "lat")])
    got = s.histograms[0]
    assert s.labels == Labels({"__name__": "lat", "job": "api"})
    assert got.custom_values == [0.25, 0.5] and got.positive == {0: 1.0, 1: 1.0, 2: 1.0}
    bad = V2Request()
    bad.symbols.extend(["", "__name__", "lat"])
    b = bad.timeseries.add()
    b.labels_refs.extend([1, 2])
    b.histograms.append(Histogram(schema=9).SerializeToString())
    with pytest.raises(RemoteWriteError, match=r"timeseries\[0\].histograms\[0\]: schema 9"):
        WriteReceiver(MemoryStorage()).ingest_v2(bytes(bad.SerializeToString()))
