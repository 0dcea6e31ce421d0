"""The agent's series index (``guardia.storage.digest_index``) finds every digest it was given
under the ref it handed out, through its growth, and nothing it was not given."""

from __future__ import annotations

import hashlib
import random

import pytest

from guardia.storage.digest_index import DigestIndex


def _digest(i: int) -> bytes:
    return hashlib.blake2b(str(i).encode(), digest_size=16).digest()


def test_refs_in_order_through_growth_and_unknown_digests_missing() -> None:
    idx = DigestIndex(capacity=4)
    refs = [idx.add(_digest(i)) for i in range(5000)]
    assert refs == list(range(5000)) and len(idx) == 5000
    order = list(range(5000))
    random.Random(3).shuffle(order)
    assert all(idx.get(_digest(i)) == i for i in order)
    assert all(idx.get(_digest(i)) is None for i in range(5000, 6000))
    assert len(idx._slots) >= 2 * len(idx)  # at most half full, so a probe ends at a free slot


def test_digests_sharing_their_first_eight_bytes_are_told_apart() -> None:
    """Their slots collide (the position is the first 8 bytes): the probe compares all 16."""
    idx = DigestIndex()
    same = [b"\x01" * 8 + bytes([i]) * 8 for i in range(40)]
    for d in same:
        idx.add(d)
    assert [idx.get(d) for d in same] == list(range(40))
    assert idx.get(b"\x01" * 8 + b"\xff" * 8) is None


def test_a_digest_of_another_size_is_refused() -> None:
    idx = DigestIndex()
    with pytest.raises(ValueError, match="a series digest is 16 bytes, not 15"):
        idx.add(b"x" * 15)
    assert len(idx) == 0
