"""Protobuf scrapes: a target written here serves the same metrics as the protobuf exposition
(hand-encoded below, independent of guardia's decoder) or the text format, whichever the
Accept header prefers; guardia scrapes it both ways and stores the same float series, and
the native histogram as a native histogram sample."""

from __future__ import annotations

import math
import struct
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from guardia.config.prometheus import PROTO_FIRST_SCRAPE_PROTOCOLS
from guardia.model import Matcher
from guardia.model.histogram import FloatHistogram
from guardia.model.varint import encode_varint
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.protoingest import om_float, pick_schema
from guardia.scrape.target import Target, populate_labels
from guardia.storage.agent import AgentStorage
from guardia.storage.exemplars import ExemplarStore
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Sink, close, job, respond, select

PROTO_CT = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"


# -- a hand-written encoder for io.prometheus.client.MetricFamily -------------------------------

def _key(num: int, wire: int) -> bytes:
    return encode_varint(num << 3 | wire)


def _uint(num: int, v: int) -> bytes:
    return _key(num, 0) + encode_varint(v)


def _sint(num: int, v: int) -> bytes:
    return _key(num, 0) + encode_varint((v << 1) ^ (v >> 63))


def _dbl(num: int, v: float) -> bytes:
    return _key(num, 1) + struct.pack("<d", v)


def _msg(num: int, b: bytes) -> bytes:
    return _key(num, 2) + encode_varint(len(b)) + b


def _str(num: int, s: str) -> bytes:
    return _msg(num, s.encode())


def _labels(labels: dict[str, str]) -> bytes:
    return b"".join(_msg(1, _str(1, k) + _str(2, v)) for k, v in labels.items())


def _family(name: str, help_: str, typ: int, metrics: list[bytes]) -> bytes:
    fam = _str(1, name) + _str(2, help_) + _uint(3, typ) + b"".join(_msg(4, m) for m in metrics)
    return encode_varint(len(fam)) + fam


# -- the target's state, as protobuf and as text -------------------------------------------------

BOUNDS = [0.1, 1.0, 10.0]


def proto_body(n: int, native: bool = True) -> bytes:
    """After ``n`` rounds: a counter, a gauge, a classic histogram, a summary and a histogram
    with native buckets (schema 0: observations 1.5 → bucket 1, 5 → bucket 3) and classic ones."""
    counter = _labels({"code": "200"}) + _msg(3, _dbl(1, 10.0 * n))
    gauge = _msg(2, _dbl(1, 0.5 + n))
    classic = _labels({"path": "/a"}) + _msg(7, b"".join([
        _uint(1, 3 * n), _dbl(2, 2.5 * n),
        *(_msg(3, _uint(1, c * n) + _dbl(2, b)) for b, c in zip(BOUNDS, (1, 2, 3), strict=True)),
    ]))
    summary = _msg(4, _uint(1, 4 * n) + _dbl(2, 8.0 * n)
                   + _msg(3, _dbl(1, 0.5) + _dbl(2, 1.25)) + _msg(3, _dbl(1, 0.99) + _dbl(2, 3.0)))
    hist = [_uint(1, 2 * n), _dbl(2, 6.5 * n),
            *(_msg(3, _uint(1, c * n) + _dbl(2, b)) for b, c in ((2.0, 1), (8.0, 2)))]
    if native:
        hist += [_sint(5, 0), _dbl(6, 2.0**-128), _uint(7, 0),
                 _msg(12, _sint(1, 1) + _uint(2, 1)), _msg(12, _sint(1, 1) + _uint(2, 1)),
                 _msg(13, encode_varint(_zz(n)) + encode_varint(_zz(0)))]
    return b"".join([
        _family("jobs_total", "Jobs done.", 0, [counter]),
        _family("queue_depth", "Queue depth.", 1, [gauge]),
        _family("req_seconds", "Request time.", 4, [classic]),
        _family("rpc_summary_seconds", "RPC time.", 2, [summary]),
        _family("rpc_seconds", "RPC time (native).", 4, [_msg(7, b"".join(hist))]),
    ])


def exemplar_body() -> bytes:
    """A counter whose exemplar has no timestamp and a classic histogram whose bucket's has."""
    ex = _labels({"trace_id": "abc"}) + _dbl(2, 0.7)
    counter = _msg(3, _dbl(1, 5.0) + _msg(2, ex))
    when = _msg(3, _uint(1, 1_700_000_000) + _uint(2, 5_000_000))  # Timestamp{seconds, nanos}
    stamped = _labels({"trace_id": "def"}) + _dbl(2, 0.05) + when
    classic = _msg(7, _uint(1, 1) + _dbl(2, 0.05) + _msg(3, _uint(1, 1) + _dbl(2, 0.1) + _msg(3, stamped)))
    native = _msg(7, _uint(1, 1) + _dbl(2, 1.5) + _sint(5, 0) + _msg(12, _sint(1, 1) + _uint(2, 1))
                  + _msg(13, encode_varint(_zz(1)))
                  + _msg(16, _labels({"trace_id": "n1"}) + _dbl(2, 1.5) + when)
                  + _msg(16, _labels({"trace_id": "untimed"}) + _dbl(2, 1.4))
                  + _msg(16, _labels({"trace_id": "n2"}) + _dbl(2, 1.6) + when))
    return (_family("jobs_total", "", 0, [counter]) + _family("req_seconds", "", 4, [classic])
            + _family("nat_seconds", "", 4, [native]))


def _zz(v: int) -> int:
    return (v << 1) ^ (v >> 63)


def text_body(n: int) -> bytes:
    """The same metrics in the text format, as client_golang writes it (``le="1"``); the
    native histogram shows only its classic buckets there."""
    lines = [
        "# HELP jobs_total Jobs done.", "# TYPE jobs_total counter", f'jobs_total{{code="200"}} {10 * n}',
        "# HELP queue_depth Queue depth.", "# TYPE queue_depth gauge", f"queue_depth {0.5 + n}",
        "# HELP req_seconds Request time.", "# TYPE req_seconds histogram",
        f'req_seconds_bucket{{path="/a",le="0.1"}} {n}', f'req_seconds_bucket{{path="/a",le="1"}} {2 * n}',
        f'req_seconds_bucket{{path="/a",le="10"}} {3 * n}',
        f'req_seconds_bucket{{path="/a",le="+Inf"}} {3 * n}',
        f'req_seconds_sum{{path="/a"}} {2.5 * n}', f'req_seconds_count{{path="/a"}} {3 * n}',
        "# HELP rpc_summary_seconds RPC time.", "# TYPE rpc_summary_seconds summary",
        'rpc_summary_seconds{quantile="0.5"} 1.25', 'rpc_summary_seconds{quantile="0.99"} 3',
        f"rpc_summary_seconds_sum {8.0 * n}", f"rpc_summary_seconds_count {4 * n}",
        "# HELP rpc_seconds RPC time (native).", "# TYPE rpc_seconds histogram",
        f'rpc_seconds_bucket{{le="2"}} {n}', f'rpc_seconds_bucket{{le="8"}} {2 * n}',
        f'rpc_seconds_bucket{{le="+Inf"}} {2 * n}', f"rpc_seconds_sum {6.5 * n}",
        f"rpc_seconds_count {2 * n}",
    ]
    return ("\n".join(lines) + "\n").encode()


class Target_:
    """Answers protobuf when the Accept header's highest-weighted type is protobuf."""

    def __init__(self, native: bool = True, fixed: int = 0) -> None:
        self.n = 0
        self.fixed = fixed  # serve this round every time (two scrapers see the same values)
        self.native = native
        self.sink = Sink(self.handle)

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        self.n = self.fixed or self.n + 1
        accept = req.headers.get("Accept", "")
        first = accept.split(",")[0]
        if first.startswith("application/vnd.google.protobuf"):
            body, ct = proto_body(self.n, self.native), PROTO_CT
        else:
            body, ct = text_body(self.n), "text/plain; version=0.0.4; charset=utf-8"
        respond(body, ct)(req)


def _loop(address: str, storage: MemoryStorage, extra: str = "") -> ScrapeLoop:
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{address}']}}]\n{extra}")
    final, pre = populate_labels({"__address__": address}, cfg)
    assert final is not None
    return ScrapeLoop(Target("t", final, pre), cfg, storage)


def _floats(storage: MemoryStorage) -> dict[str, list[float]]:
    out = {}
    for s in select(storage, job="t"):
        if s.labels.get("__name__") in ("up", "scrape_duration_seconds", "scrape_samples_scraped",
                                       "scrape_samples_post_metric_relabeling", "scrape_series_added"):
            continue
        if s.histograms is not None and any(h is not None for h in s.histograms):
            continue
        # two targets (one per format) differ in their port: leave ``instance`` out
        out[str(s.labels.without("instance"))] = [float(v) for v in s.values]
    return out


def _hists(storage: MemoryStorage, name: str) -> list[FloatHistogram]:
    [s] = select(storage, __name__=name)
    assert s.histograms is not None
    return [h for h in s.histograms if h is not None]


async def _scrape(
    extra: str, rounds: int = 2, native: bool = True
) -> tuple[MemoryStorage, ScrapeLoop, Target_]:
    target = Target_(native)
    storage = MemoryStorage()
    loop = _loop(target.sink.address, storage, extra)
    try:
        for _ in range(rounds):
            await loop.scrape_once()
            assert loop.target.health == "up", loop.target.last_error
    finally:
        await close(loop)
        target.sink.close()
    return storage, loop, target


async def test_protobuf_gives_the_text_formats_float_series_and_a_native_histogram() -> None:
    proto, ploop, ptarget = await _scrape(
        "    scrape_native_histograms: true\n    always_scrape_classic_histograms: true\n")
    text, _, _ = await _scrape("    scrape_protocols: [PrometheusText0.0.4]\n")
    assert ptarget.sink.requests[0]["accept"].startswith("application/vnd.google.protobuf;")
    # every float series and value the text format gives, protobuf gives too (le="1" → "1.0" both ways)
    assert _floats(proto) == _floats(text)
    keys = "\n".join(_floats(text))
    assert 'le="1.0"' in keys and 'quantile="0.5"' in keys and 'le="+Inf"' in keys
    h1, h2 = _hists(proto, "rpc_seconds")
    assert (h1.schema, h1.count, h1.sum, h1.positive) == (0, 2.0, 6.5, {1: 1.0, 3: 1.0})
    assert (h2.count, h2.sum, h2.positive) == (4.0, 13.0, {1: 2.0, 3: 2.0})
    assert h1.zero_threshold == 2.0**-128
    assert ploop.last_result is not None and ploop.last_result.scraped == 1 + 1 + 6 + 4 + 1 + 5
    assert ploop.ingester.metadata["rpc_summary_seconds"].type == "summary"


async def test_native_only_without_always_scrape_classic() -> None:
    storage, _, _ = await _scrape("    scrape_native_histograms: true\n")
    names = {k.split("{")[0] for k in _floats(storage)}
    assert "rpc_seconds_bucket" not in names and "rpc_seconds_count" not in names
    assert "req_seconds_bucket" in names  # a histogram without native buckets stays classic
    assert len(_hists(storage, "rpc_seconds")) == 2


async def test_without_scrape_native_histograms_protobuf_histograms_are_classic() -> None:
    storage, _, _ = await _scrape(
        "    scrape_protocols: [PrometheusProto]\n", native=True)
    text, _, _ = await _scrape("    scrape_protocols: [PrometheusText0.0.4]\n")
    assert _floats(storage) == _floats(text)
    [s] = select(storage, __name__="rpc_seconds_count")
    assert s.histograms is None or all(h is None for h in s.histograms)


async def test_native_histogram_series_goes_stale_when_it_disappears() -> None:
    target = Target_()
    storage = MemoryStorage()
    loop = _loop(target.sink.address, storage, "    scrape_native_histograms: true\n")
    try:
        await loop.scrape_once()
        target.native = False  # the next body has classic buckets only
        await loop.scrape_once()
    finally:
        await close(loop)
        target.sink.close()
    [s] = select(storage, __name__="rpc_seconds")
    assert s.histograms is not None and s.histograms[0] is not None
    assert math.isnan(s.values[-1]) and s.histograms[-1] is None  # the stale marker


async def test_bucket_limit_halves_the_resolution() -> None:
    # schema 0 buckets 1 and 3 → schema -1 buckets 1 and 2 → schema -2 bucket 1 (both merged)
    storage, _, _ = await _scrape(
        "    scrape_native_histograms: true\n    native_histogram_bucket_limit: 1\n", rounds=1)
    [h] = _hists(storage, "rpc_seconds")
    assert (h.schema, h.positive, h.count) == (-2, {1: 2.0}, 2.0)


async def test_metric_relabeling_and_sample_limit_apply_to_protobuf() -> None:
    storage, loop, _ = await _scrape(
        "    scrape_native_histograms: true\n    metric_relabel_configs:\n"
        "      - {source_labels: [__name__], regex: 'rpc_seconds|req_seconds_bucket', action: drop}\n",
        rounds=1)
    assert not select(storage, __name__="rpc_seconds") and not select(storage, __name__="req_seconds_bucket")
    assert select(storage, __name__="req_seconds_count")
    assert loop.last_result is not None and loop.last_result.post_relabel == 1 + 1 + 2 + 4
    target = Target_()
    limited = _loop(target.sink.address, MemoryStorage(),
                    "    scrape_native_histograms: true\n    sample_limit: 5\n")
    try:
        await limited.scrape_once()
    finally:
        await close(limited)
        target.sink.close()
    assert limited.target.last_error == "sample limit exceeded (number of samples: 13, limit: 5)"


async def test_target_timestamps_are_honoured() -> None:
    gauge = _msg(2, _dbl(1, 4.0)) + _uint(6, 1_700_000_000_123)  # timestamp_ms
    hist = _msg(7, _uint(1, 1) + _dbl(2, 1.5) + _sint(5, 0) + _msg(12, _sint(1, 1) + _uint(2, 1))
                + _msg(13, encode_varint(_zz(1)))) + _uint(6, 1_700_000_000_456)
    body = _family("temp", "", 1, [gauge]) + _family("lat_seconds", "", 4, [hist])
    sink = Sink(respond(body, PROTO_CT))
    storage = MemoryStorage()
    loop = _loop(sink.address, storage, "    scrape_native_histograms: true\n")
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "up", loop.target.last_error
    [g] = select(storage, __name__="temp")
    assert list(g.timestamps) == [1_700_000_000_123] and list(g.values) == [4.0]
    [h] = select(storage, __name__="lat_seconds")
    assert list(h.timestamps) == [1_700_000_000_456]


async def test_agent_storage_drops_native_histograms_and_says_so(tmp_path: Path) -> None:
    target = Target_()
    agent = AgentStorage(tmp_path / "agent")
    loop = _loop(target.sink.address, agent, "    scrape_native_histograms: true\n")  # type: ignore[arg-type]
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        target.sink.close()
        agent.close()
    assert loop.target.health == "up", loop.target.last_error
    assert loop.target.warnings == ["1 native histograms dropped: this storage keeps floats only"]


def test_pick_schema_follows_the_bucket_factor() -> None:
    assert pick_schema(0) == 8
    assert pick_schema(1.1) == 2  # 2**(2**-3) ≈ 1.09 is the largest growth below 1.1
    assert pick_schema(2) == 0
    assert pick_schema(65536) == -4


async def test_corrupt_body_fails_the_scrape_naming_the_offset() -> None:
    good = proto_body(1)
    body = good + b"\x09" + b"\xff" * 5  # a second message announcing 9 bytes, 5 follow
    sink = Sink(respond(body, PROTO_CT))
    storage = MemoryStorage()
    loop = _loop(sink.address, storage, "    scrape_protocols: [PrometheusProto]\n")
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "down"
    assert f"byte offset {len(good)}" in loop.target.last_error
    assert "truncated" in loop.target.last_error
    [up] = select(storage, __name__="up")
    assert list(up.values) == [0.0]


async def test_garbage_message_is_refused() -> None:
    body = b"\x04\x0a\xff\xff\xff"  # field 1 (name) says 255+ bytes in a 4-byte message
    sink = Sink(respond(body, PROTO_CT))
    loop = _loop(sink.address, MemoryStorage(), "")
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "down"
    assert "byte offset 0: message 1 (4 bytes) is not a valid MetricFamily" in loop.target.last_error


@pytest.mark.parametrize(("hist", "reason"), [
    # count 5 where the buckets hold 2
    ([_uint(1, 5), _dbl(2, 1.0), _sint(5, 0), _msg(12, _sint(1, 1) + _uint(2, 2)),
      _msg(13, encode_varint(_zz(1)) + encode_varint(_zz(0)))],
     "2 observations found in the buckets, but the count is 5"),
    # two buckets announced, one given
    ([_uint(1, 1), _sint(5, 0), _msg(12, _sint(1, 1) + _uint(2, 2)), _msg(13, encode_varint(_zz(1)))],
     "spans need more buckets than the 1 given"),
    ([_uint(1, 1), _sint(5, 9), _msg(12, _sint(1, 1) + _uint(2, 1)), _msg(13, encode_varint(_zz(1)))],
     "schema 9 is outside -4..8"),
])
async def test_malformed_native_histogram_fails_the_scrape(hist: list[bytes], reason: str) -> None:
    body = _family("bad_seconds", "", 4, [_labels({"a": "b"}) + _msg(7, b"".join(hist))])
    sink = Sink(respond(body, PROTO_CT))
    loop = _loop(sink.address, MemoryStorage(), "    scrape_native_histograms: true\n")
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "down"
    assert "bad_seconds{a='b'}" in loop.target.last_error and reason in loop.target.last_error


async def test_no_content_type_needs_a_fallback() -> None:
    sink = Sink(respond(proto_body(1), None))
    storage = MemoryStorage()
    plain = _loop(sink.address, storage, "")
    fallback = _loop(sink.address, storage, "    fallback_scrape_protocol: PrometheusProto\n"
                     "    scrape_native_histograms: true\n")
    try:
        await plain.scrape_once()
        await fallback.scrape_once()
    finally:
        await close(plain)
        await close(fallback)
        sink.close()
    assert "blank Content-Type and no fallback_scrape_protocol" in plain.target.last_error
    assert fallback.target.health == "up", fallback.target.last_error
    assert len(_hists(storage, "rpc_seconds")) == 1


async def test_exemplars_of_counters_and_buckets_are_kept() -> None:
    sink = Sink(respond(exemplar_body(), PROTO_CT))
    store = ExemplarStore()
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{sink.address}']}}]\n"
              "    scrape_native_histograms: true\n")
    final, pre = populate_labels({"__address__": sink.address}, cfg)
    assert final is not None
    loop = ScrapeLoop(Target("t", final, pre), cfg, MemoryStorage(), exemplars=store)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "up", loop.target.last_error
    got = {str(se.series.get("__name__")) + se.series.get("le", ""): se.exemplars
           for se in store.select(0, 2**62, [[Matcher.equal("job", "t")]])}
    [c] = got["jobs_total"]
    assert (dict(c.labels), c.value) == ({"trace_id": "abc"}, 0.7)
    assert c.timestamp_ms > 1_700_000_000_000  # the scrape's time
    [b] = got["req_seconds_bucket0.1"]
    assert (dict(b.labels), b.value, b.timestamp_ms) == ({"trace_id": "def"}, 0.05, 1_700_000_000_005)
    # a native histogram's exemplars without a timestamp are dropped, as in Prometheus
    assert [dict(e.labels)["trace_id"] for e in got["nat_seconds"]] == ["n1", "n2"]


def test_scrape_native_histograms_puts_protobuf_first() -> None:
    cfg = job("global: {scrape_native_histograms: true}\nscrape_configs:\n  - job_name: t\n"
              "    static_configs: [{targets: ['h:1']}]\n")
    assert cfg.scrape_protocols == PROTO_FIRST_SCRAPE_PROTOCOLS
    cfg = job("scrape_configs:\n  - job_name: t\n    static_configs: [{targets: ['h:1']}]\n")
    assert cfg.scrape_protocols is not None and "PrometheusProto" not in cfg.scrape_protocols


@pytest.mark.parametrize(("v", "s"), [(1.0, "1.0"), (0.25, "0.25"), (1e6, "1e+06"), (math.inf, "+Inf"),
                                      (0.0, "0.0"), (-1.0, "-1.0")])
def test_om_float(v: float, s: str) -> None:
    assert om_float(v) == s
