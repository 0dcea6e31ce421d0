"""Decoding Loki push requests: JSON (optionally gzip) and protobuf + snappy.

JSON: ``{"streams": [{"stream": {"job": "app"}, "values": [["<unix ns>", "line"], ...]}]}``;
a third element of a value is the line's structured metadata (``{"trace_id": "..."}``).
Protobuf: ``logproto.PushRequest`` (streams = 1; a stream's labels = 1 as a selector string,
entries = 2; an entry's timestamp = 1 as google.protobuf.Timestamp, line = 2, structured
metadata = 3 as name = 1 / value = 2 pairs), snappy block
compressed, as Promtail, Alloy and the Docker driver send it.  The wire format is read here
directly: three nested messages do not need generated code.
"""

from __future__ import annotations

import gzip
import operator
import zlib
from typing import Any

import orjson

from guardia.logs.chunk import encode_metadata
from guardia.logs.errors import LogsError
from guardia.logs.store import PushStream
from guardia.model import Labels
from guardia.model.labels import is_valid_label_name
from guardia.model.matchers import MatcherError, MatchType, parse_matchers
from guardia.model.varint import VarintError, read_varint

_first = operator.itemgetter(0)
_second = operator.itemgetter(1)


class PushDecodeError(LogsError):
    """A push body that is not a valid Loki push request."""


def parse_stream_selector(text: str) -> Labels:
    """``{job="app", host="a"}`` (the protobuf labels string) as Labels."""
    try:
        ms = parse_matchers(text)
    except MatcherError as e:
        raise PushDecodeError(f"invalid stream labels {text!r}: {e}") from None
    if any(m.type is not MatchType.EQUAL for m in ms):
        raise PushDecodeError(f"stream labels {text!r} must use = only")
    return Labels((m.name, m.value) for m in ms)


def decode_push(body: bytes, content_type: str, content_encoding: str = "") -> list[PushStream]:
    import cramjam  # here: its compiled module is 1.5 MiB resident, and most servers never use it

    ct = content_type.split(";")[0].strip().lower()
    enc = content_encoding.strip().lower()
    if ct in ("application/x-protobuf", "application/protobuf") or (not ct and enc == "snappy"):
        if enc in ("", "snappy"):
            try:
                raw = bytes(cramjam.snappy.decompress_raw(body))
            except Exception as e:
                raise PushDecodeError(f"protobuf push body is not snappy block compressed: {e}") from None
        else:
            raw = uncompress(body, enc)
        return decode_protobuf(raw)
    return decode_json(uncompress(body, enc))


def uncompress(body: bytes, enc: str) -> bytes:
    import cramjam  # here: its compiled module is 1.5 MiB resident, and most servers never use it

    if enc in ("", "identity"):
        return body
    try:
        if enc == "gzip":
            return gzip.decompress(body)
        if enc == "deflate":
            return zlib.decompress(body)
        if enc == "snappy":
            return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as e:
        raise PushDecodeError(f"body is not valid {enc}: {e}") from None
    raise PushDecodeError(f"unsupported Content-Encoding {enc!r}: use gzip, deflate or snappy")


def decode_json(body: bytes) -> list[PushStream]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise PushDecodeError(f"push body is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("streams"), list):
        raise PushDecodeError(
            'push body must be {"streams": [{"stream": {...}, "values": [[ts, line], ...]}]}'
        )
    out: list[PushStream] = []
    for i, st in enumerate(doc["streams"]):
        if not isinstance(st, dict):
            raise PushDecodeError(f"streams[{i}] must be an object")
        labels = st.get("stream", st.get("labels"))
        if isinstance(labels, str):
            lbls = parse_stream_selector(labels)
        elif isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values()):
            lbls = Labels(labels)
        else:
            raise PushDecodeError(f"streams[{i}].stream must be an object of string label values")
        values = st.get("values")
        if values is None and isinstance(st.get("entries"), list):
            values = [[e.get("ts"), e.get("line")] for e in st["entries"]]
        if not isinstance(values, list):
            raise PushDecodeError(f"streams[{i}].values must be a list of [timestamp, line]")
        try:
            # map over C functions: no Python frame per line (this runs for every pushed line)
            try:
                ts = list(map(int, map(_first, values)))
            except ValueError:
                ts = [_ns(v[0]) for v in values]
            lines = list(map(str.encode, map(_second, values)))
            with_meta = bool(values) and max(map(len, values)) > 2
        except (TypeError, IndexError, ValueError, AttributeError, KeyError):
            raise PushDecodeError(
                f'streams[{i}].values: each value must be ["<unix epoch in nanoseconds>", "<line>"]'
            ) from None
        meta = _json_metadata(values, i) if with_meta else None
        out.append(PushStream(lbls, ts, lines, meta))
    return out


def _json_metadata(values: list[Any], i: int) -> list[bytes]:
    out: list[bytes] = []
    for j, v in enumerate(values):
        m = v[2] if len(v) > 2 else None
        if m is not None and (
            not isinstance(m, dict) or not all(isinstance(x, str) for x in m.values())
            or not all(is_valid_label_name(k) for k in m)
        ):
            raise PushDecodeError(
                f"streams[{i}].values[{j}][2]: structured metadata must be an object of string values "
                'with label-like names, e.g. {"trace_id": "0242ac120002"}'
            )
        out.append(encode_metadata(m))
    return out


def _ns(v: Any) -> int:
    if isinstance(v, str):
        if v.isdigit():
            return int(v)
        from guardia.model.timestamps import parse_timestamp

        return parse_timestamp(v) * 1_000_000
    if isinstance(v, int):
        return v
    raise ValueError(v)


# ---------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    try:
        return read_varint(buf, pos)
    except VarintError as e:
        raise PushDecodeError(f"protobuf: {e}") from None


def _fields(buf: bytes, pos: int = 0, end: int | None = None) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, value or start, end) of each field of one message."""
    end = len(buf) if end is None else end
    out: list[tuple[int, int, int, int]] = []
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
            out.append((num, 0, val, pos))
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > end:
                raise PushDecodeError("truncated protobuf field")
            out.append((num, 2, pos, pos + ln))
            pos += ln
        elif wt == 1:
            out.append((num, 1, pos, pos + 8))
            pos += 8
        elif wt == 5:
            out.append((num, 5, pos, pos + 4))
            pos += 4
        else:
            raise PushDecodeError(f"unsupported protobuf wire type {wt}")
    if pos != end:
        raise PushDecodeError("truncated protobuf message")
    return out




def decode_protobuf(raw: bytes) -> list[PushStream]:
    out: list[PushStream] = []
    for num, wt, a, b in _fields(raw):
        if num != 1 or wt != 2:
            continue
        labels_text = ""
        ts: list[int] = []
        lines: list[bytes] = []
        meta: list[bytes] = []
        for fnum, fwt, fa, fb in _fields(raw, a, b):
            if fnum == 1 and fwt == 2:
                labels_text = raw[fa:fb].decode("utf-8", "replace")
            elif fnum == 2 and fwt == 2:
                t = 0
                line = b""
                pairs: dict[str, str] = {}
                for enum_, ewt, ea, eb in _fields(raw, fa, fb):
                    if enum_ == 1 and ewt == 2:
                        secs = nanos = 0
                        for tnum, twt, tv, _ in _fields(raw, ea, eb):
                            if twt == 0 and tnum == 1:
                                secs = tv - (1 << 64) if tv >= 1 << 63 else tv
                            elif twt == 0 and tnum == 2:
                                nanos = tv
                        t = secs * 1_000_000_000 + nanos
                    elif enum_ == 2 and ewt == 2:
                        line = raw[ea:eb]
                    elif enum_ == 3 and ewt == 2:
                        name = value = ""
                        for pnum, pwt, pa, pb in _fields(raw, ea, eb):
                            if pwt == 2 and pnum == 1:
                                name = raw[pa:pb].decode("utf-8", "replace")
                            elif pwt == 2 and pnum == 2:
                                value = raw[pa:pb].decode("utf-8", "replace")
                        if not is_valid_label_name(name):
                            raise PushDecodeError(
                                f"structured metadata name {name!r} is not a valid label name")
                        pairs[name] = value
                ts.append(t)
                lines.append(line)
                meta.append(encode_metadata(pairs))
        out.append(PushStream(parse_stream_selector(labels_text), ts, lines, meta if any(meta) else None))
    return out


def encode_protobuf(streams: list[tuple[str, list[tuple[int, str]]]] | list[Any]) -> bytes:
    """A snappy-compressed PushRequest: what Promtail sends (tests and benchmarks use it)."""
    import cramjam  # here: its compiled module is 1.5 MiB resident, and most servers never use it


    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)

    def field(num: int, payload: bytes) -> bytes:
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    msg = bytearray()
    for labels, entries in streams:
        body = bytearray(field(1, labels.encode()))
        for t, line, *rest in entries:
            tsmsg = varint(1 << 3) + varint(t // 1_000_000_000) + varint(2 << 3) + varint(t % 1_000_000_000)
            pairs = rest[0] if rest else {}
            sm = b"".join(field(3, field(1, k.encode()) + field(2, v.encode())) for k, v in pairs.items())
            body += field(2, field(1, tsmsg) + field(2, line.encode()) + sm)
        msg += field(1, bytes(body))
    return bytes(cramjam.snappy.compress_raw(bytes(msg)))
