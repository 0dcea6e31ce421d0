"""Decoding Loki push bodies: JSON (plain, gzip), protobuf + snappy, and their errors."""

from __future__ import annotations

import gzip

import orjson
import pytest

from guardia.logs.push import PushDecodeError, decode_push, encode_protobuf, parse_stream_selector
from guardia.model import Labels


def test_json_push_with_structured_metadata_is_accepted() -> None:
    body = orjson.dumps(
        {
            "streams": [
                {
                    "stream": {"job": "a"},
                    "values": [["1700000000000000001", "l1", {"trace": "x"}], ["1700000000000000002", "l2"]],
                }
            ]
        }
    )
    [s] = decode_push(body, "application/json")
    assert s.labels == Labels({"job": "a"})
    assert list(s.ts) == [1700000000000000001, 1700000000000000002]
    assert s.lines == [b"l1", b"l2"]


def test_gzip_json_push() -> None:
    body = gzip.compress(orjson.dumps({"streams": [{"stream": {"job": "a"}, "values": [["5", "x"]]}]}))
    [s] = decode_push(body, "application/json", "gzip")
    assert s.lines == [b"x"]


def test_protobuf_push_round_trips_labels_timestamps_and_unicode() -> None:
    body = encode_protobuf([('{job="a", host="h\\"1"}', [(1_700_000_000_123_456_789, "ñ line")])])
    [s] = decode_push(body, "application/x-protobuf")
    assert s.labels == Labels({"job": "a", "host": 'h"1'})
    assert list(s.ts) == [1_700_000_000_123_456_789]
    assert s.lines == ["ñ line".encode()]


@pytest.mark.parametrize(
    ("body", "ctype", "enc", "msg"),
    [
        (b"[]", "application/json", "", '{"streams"'),
        (b'{"streams": [{"stream": {"a": 1}, "values": []}]}', "application/json", "", "string label values"),
        (b'{"streams": [{"stream": {"a": "b"}, "values": [["x"]]}]}', "application/json", "", "nanoseconds"),
        (b"not gzip", "application/json", "gzip", "not valid gzip"),
        (b"x", "application/json", "br", "unsupported Content-Encoding"),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, ctype: str, enc: str, msg: str) -> None:
    with pytest.raises(PushDecodeError, match=None) as info:
        decode_push(body, ctype, enc)
    assert msg in str(info.value)


def test_stream_selector_must_use_equality() -> None:
    with pytest.raises(PushDecodeError, match="must use = only"):
        parse_stream_selector('{job=~"a"}')
