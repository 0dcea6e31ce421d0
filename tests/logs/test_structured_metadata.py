"""Structured metadata (Loki 3): per-line name/value pairs pushed beside the line, kept
through the WAL and chunks, and seen by LogQL as labels of that line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from guardia.logs import LogStore
from guardia.logs.logql import LogQLEngine, MatrixResult, StreamsResult
from guardia.logs.push import PushDecodeError, decode_push, encode_protobuf

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _body() -> bytes:
    return orjson.dumps({"streams": [{"stream": {"job": "app"}, "values": [
        [str(T0 + 1), "GET /a 200", {"trace_id": "t1", "user": "ana"}],
        [str(T0 + 2), "GET /b 500", {"trace_id": "t2"}],
        [str(T0 + 3), "GET /c 200"],
    ]}]})


def _streams(engine: LogQLEngine, q: str) -> list[tuple[dict[str, str], list[str]]]:
    res = engine.query_range(q, T0, T0 + 10 * NS, NS, 100, "forward")
    assert isinstance(res, StreamsResult)
    return sorted(((labels, [line for _, line in values]) for labels, values in res.streams),
                  key=lambda s: sorted(s[0].items()))


def _check(engine: LogQLEngine) -> None:
    # without categorize-labels Loki answers a stream per stream labels + metadata
    assert _streams(engine, '{job="app"}') == [
        ({"job": "app"}, ["GET /c 200"]),
        ({"job": "app", "trace_id": "t1", "user": "ana"}, ["GET /a 200"]),
        ({"job": "app", "trace_id": "t2"}, ["GET /b 500"]),
    ]
    # label filters and parsers see the metadata as labels of the line
    assert _streams(engine, '{job="app"} | trace_id="t2"') == [
        ({"job": "app", "trace_id": "t2"}, ["GET /b 500"])]
    assert [s[1] for s in _streams(engine, '{job="app"} | user=""')] == [["GET /c 200"], ["GET /b 500"]]
    res = engine.query_instant('sum by (trace_id) (count_over_time({job="app"}[1m]))', T0 + 10 * NS)
    assert isinstance(res, MatrixResult)
    pairs = zip(res.labels, res.values, strict=True)
    got = sorted((dict(k).get("trace_id", ""), float(v[0])) for k, v in pairs)
    assert got == [("", 1.0), ("t1", 1.0), ("t2", 1.0)]


def test_json_push_metadata_survives_wal_replay_and_chunks(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    store.push(decode_push(_body(), "application/json"))
    _check(LogQLEngine(store))  # from the head
    store.wal.close()  # a crash before any chunk was cut: only the WAL holds the lines
    store = LogStore(tmp_path / "logs")
    _check(LogQLEngine(store))  # replayed from the WAL
    store.flush()
    store.close()
    store = LogStore(tmp_path / "logs")
    assert store.disk_bytes() > 0
    _check(LogQLEngine(store))  # read back from a zstd chunk
    store.close()


def test_protobuf_push_carries_metadata_as_promtail_and_alloy_send_it(tmp_path: Path) -> None:
    body = encode_protobuf([('{job="app"}', [(T0 + 1, "GET /a 200", {"trace_id": "t1", "user": "ana"}),
                                             (T0 + 2, "GET /b 500", {"trace_id": "t2"}),
                                             (T0 + 3, "GET /c 200")])])
    store = LogStore(tmp_path / "logs")
    store.push(decode_push(body, "application/x-protobuf"))
    _check(LogQLEngine(store))
    store.close()


def test_a_stream_without_metadata_mixes_with_one_with_it(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    plain = orjson.dumps({"streams": [{"stream": {"job": "app"}, "values": [[str(T0 + 3), "GET /c 200"]]}]})
    with_meta = orjson.dumps({"streams": [{"stream": {"job": "app"}, "values": [
        [str(T0 + 1), "GET /a 200", {"trace_id": "t1", "user": "ana"}],
        [str(T0 + 2), "GET /b 500", {"trace_id": "t2"}]]}]})
    store.push(decode_push(plain, "application/json"))
    store.push(decode_push(with_meta, "application/json"))  # older lines, after: the head is re-sorted
    _check(LogQLEngine(store))
    store.close()


@pytest.mark.parametrize(("meta", "msg"), [
    ({"trace_id": 5}, "structured metadata must be an object of string values"),
    (["a"], "structured metadata must be an object of string values"),
    ({"bad-name": "x"}, "structured metadata must be an object of string values with label-like names"),
])
def test_bad_metadata_is_refused_with_its_place(meta: object, msg: str) -> None:
    body = orjson.dumps({"streams": [{"stream": {"job": "app"}, "values": [[str(T0), "x", meta]]}]})
    with pytest.raises(PushDecodeError, match=r"streams\[0\]\.values\[0\]\[2\]: " + msg):
        decode_push(body, "application/json")
