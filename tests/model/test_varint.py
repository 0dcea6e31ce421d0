"""The shared protobuf varint reader/writer (remote write in and out, Loki's push API)."""

from __future__ import annotations

import pytest

from guardia.model.varint import VarintError, encode_varint, read_varint


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**35, 2**42 - 1, 2**63 - 1, -1, -5000])
def test_a_varint_reads_back_as_written(n: int) -> None:
    b = b"\xff" + encode_varint(n) + b"tail"
    v, pos = read_varint(b, 1)
    assert v == (n if n >= 0 else n + 2**64)
    assert b[pos:] == b"tail"


def test_a_truncated_or_overlong_varint_is_a_clear_error() -> None:
    with pytest.raises(VarintError, match="truncated"):
        read_varint(b"\x80\x80", 0)
    with pytest.raises(VarintError, match="64 bits"):
        read_varint(b"\xff" * 11, 0)
