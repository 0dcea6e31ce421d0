"""The agent's series index: 16-byte digests to dense refs in two flat arrays.

A ``dict[bytes, int]`` costs about 100 bytes a series (a 49-byte bytes object, an int object
above 256 and the dict's entry and slot), 2 MiB of an agent's ~45 at 20,000 series (#24).  Here
the digests sit end to end in one ``bytearray`` (ref ``r`` at ``16 * r``, since refs are handed
out in order) and an open-addressing table of refs (``array('i')``, -1 for a free slot, at most
half full) finds them: 16 bytes plus 8 to 16 of table a series.  Lookups are Python, about a
microsecond, and an agent makes one only for a series its scrape cache does not know (a new
series, a restarted target), never per sample.
"""

from __future__ import annotations

from array import array

DIGEST = 16
_EMPTY = -1


class DigestIndex:
    """Refs ``0, 1, 2...`` for digests in the order they are added."""

    __slots__ = ("_digests", "_mask", "_slots")

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(3, (2 * capacity - 1).bit_length())
        self._slots = array("i", [_EMPTY]) * size
        self._mask = size - 1
        self._digests = bytearray()

    def __len__(self) -> int:
        return len(self._digests) // DIGEST

    def get(self, digest: bytes) -> int | None:
        slots, digests, mask = self._slots, self._digests, self._mask
        i = int.from_bytes(digest[:8], "little") & mask
        while (ref := slots[i]) != _EMPTY:
            at = ref * DIGEST
            if digests[at : at + DIGEST] == digest:
                return ref
            i = (i + 1) & mask
        return None

    def add(self, digest: bytes) -> int:
        """The next ref for ``digest``, which the caller has checked is not in yet."""
        if len(digest) != DIGEST:
            raise ValueError(f"a series digest is {DIGEST} bytes, not {len(digest)}")
        ref = len(self)
        if 2 * (ref + 1) > len(self._slots):
            self._grow()
        self._digests += digest
        self._place(int.from_bytes(digest[:8], "little"), ref)
        return ref

    def _place(self, key: int, ref: int) -> None:
        slots, mask = self._slots, self._mask
        i = key & mask
        while slots[i] != _EMPTY:
            i = (i + 1) & mask
        slots[i] = ref

    def _grow(self) -> None:
        size = 2 * len(self._slots)
        self._slots = array("i", [_EMPTY]) * size
        self._mask = size - 1
        digests = self._digests
        for ref in range(len(self)):
            at = ref * DIGEST
            self._place(int.from_bytes(digests[at : at + 8], "little"), ref)
