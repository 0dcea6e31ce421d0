"""Prometheus's label-set hash (``labels.Labels.Hash``): XXH64, seed 0, over every
``name 0xff value 0xff`` in sorted order.

PromQL exposes this hash through ``limit_ratio``, whose sample of series is "the series whose
hash falls below the ratio": a team that moves a dashboard from Prometheus to guardia expects
the same series picked, so the hash must be Prometheus's, bit for bit, not Python's ``hash``.
No well-kept XXH64 binding is a dependency already, and this runs once per series of a
``limit_ratio`` input, so a small pure-Python XXH64 (checked against Debian's libxxhash in the
tests) is cheaper than a new compiled dependency.
"""

from __future__ import annotations

from collections.abc import Iterable

_M = (1 << 64) - 1
_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_SEP = b"\xff"


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def _merge(h: int, v: int) -> int:
    return (((h ^ _round(0, v)) * _P1) + _P4) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 of ``data`` (the 64-bit xxHash, as Go's ``cespare/xxhash`` computes it)."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M
        v2 = (seed + _P2) & _M
        v3 = seed & _M
        v4 = (seed - _P1) & _M
        stop = n - 32
        while i <= stop:
            v1 = _round(v1, int.from_bytes(data[i:i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8:i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16:i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24:i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i:i + 4], "little") * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


def labels_hash(pairs: Iterable[tuple[str, str]]) -> int:
    """``labels.Labels.Hash()`` of name/value pairs given in sorted order (as ``Labels`` keeps
    them)."""
    buf = bytearray()
    for name, value in pairs:
        buf += name.encode()
        buf += _SEP
        buf += value.encode()
        buf += _SEP
    return xxh64(bytes(buf))
