"""Protobuf base-128 varints, the one reader and writer every hand-rolled protobuf codec shares
(remote write in and out, Loki's push API): their messages are decoded in bulk elsewhere, and
only the odd field that needs a scalar walk comes here."""

from __future__ import annotations


class VarintError(ValueError):
    """A varint that runs past the end of its buffer or beyond 64 bits (a malformed message)."""


def read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    try:
        while True:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise VarintError("varint overflows 64 bits")
    except IndexError:
        raise VarintError("truncated varint (unexpected end of message)") from None


def encode_varint(n: int) -> bytes:
    """``n`` (0 ≤ n < 2**64; negative int64 values as their two's complement) as a varint."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
