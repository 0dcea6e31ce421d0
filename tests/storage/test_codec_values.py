"""The value encoder (``codec.encode_values``) against its definition: a row is stored as
integer deltas when every value in it is an integer below 2**53 in magnitude and not -0.0,
else as XORs of each value's bits with its predecessor's.  The encoder finds those rows in
fewer passes (a value is an integer when it survives a round trip through int64); the words
must be the very words the definition gives, for any value, and decode back bit for bit."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from guardia.model import STALE_NAN
from guardia.storage.tsdb.chunks import decode_page, encode_page
from guardia.storage.tsdb.codec import decode_values, encode_values

SPECIAL = np.array([
    np.nan, STALE_NAN, float.fromhex("0x7ff0000000000002"), np.inf, -np.inf, -0.0, 0.0,
    2.0**53, -(2.0**53), 2.0**53 - 1, -(2.0**53 - 1), 2.0**63, -(2.0**63), 2.0**64, 1e300,
    5e-324, 0.5, -1.5, 3.0, -7.0, 1.0, 123456789.0,
])


F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]


def _by_definition(vs: F64, counts: I32) -> tuple[list[bool], list[int]]:
    """The rows' kinds and words, one row and one value at a time."""
    kinds: list[bool] = []
    words: list[int] = []
    lo = 0
    for c in counts.tolist():
        row = vs[lo : lo + c]
        lo += c
        if not c:
            kinds.append(True)
            continue
        is_int = all(
            float(v).is_integer() and abs(v) < 2.0**53 and not (v == 0 and np.signbit(v)) for v in row
        )
        kinds.append(is_int)
        if is_int:
            prev = 0
            for i, v in enumerate(row.tolist()):
                d = int(v) - (prev if i else 0)
                prev = int(v)
                words.append(((d << 1) ^ (d >> 63)) & (2**64 - 1))
        else:
            bits = row.view(np.uint64).tolist()
            words.extend(b if i == 0 else b ^ bits[i - 1] for i, b in enumerate(bits))
    return kinds, words


def _rows(rng: np.random.Generator, kind: str) -> tuple[F64, I32]:
    counts = rng.integers(0, 7, int(rng.integers(0, 12))).astype(np.int32)
    n = int(counts.sum())
    if kind == "special":
        vs = rng.choice(SPECIAL, n)
    elif kind == "ints":
        vs = rng.integers(-(2**40), 2**40, n).astype(np.float64)
    elif kind == "floats":
        vs = rng.normal(0, 1e3, n)
    else:  # integers with now and then anything else
        vs = np.where(rng.random(n) < 0.15, rng.choice(SPECIAL, n), rng.integers(-9, 9, n).astype(np.float64))
    return vs, counts


@pytest.mark.parametrize("kind", ["special", "ints", "floats", "mixed"])
def test_values_encode_to_the_words_of_the_definition_and_back(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    for _ in range(300):
        vs, counts = _rows(rng, kind)
        kinds, words = _by_definition(vs, counts)
        row_int, got = encode_values(vs.copy(), counts)
        nonempty = counts > 0
        assert row_int[nonempty].tolist() == [k for k, c in zip(kinds, counts.tolist(), strict=True) if c]
        assert got.dtype == np.uint64 and got.tolist() == words
        back = decode_values(row_int, got, counts)
        assert back.view(np.uint64).tolist() == vs.view(np.uint64).tolist()


def test_encoding_leaves_its_input_alone_and_a_page_round_trips() -> None:
    rng = np.random.default_rng(7)
    vs, counts = _rows(rng, "mixed")
    while not counts.sum():
        vs, counts = _rows(rng, "mixed")
    keep = vs.copy()
    ts = np.concatenate([np.arange(c, dtype=np.int64) * 15_000 for c in counts.tolist()])
    blob = encode_page(counts, ts, vs)
    assert vs.view(np.uint64).tolist() == keep.view(np.uint64).tolist()
    c2, t2, v2 = decode_page(blob)
    assert c2.tolist() == counts.tolist() and t2.tolist() == ts.tolist()
    assert v2.view(np.uint64).tolist() == keep.view(np.uint64).tolist()
