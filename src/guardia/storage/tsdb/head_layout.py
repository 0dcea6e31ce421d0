"""The head's building blocks: window buffers, compressed pages and spans, and the memory
helpers that keep them small (see ``head`` for the layout as a whole)."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from guardia.storage.heap import release_free_memory as release_free_memory  # the head's modules' name
from guardia.storage.tsdb.chunks import FRAME_MAX_ROWS, decode_page, encode_page

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)

_FRAMES_PER_BATCH = 16  # frames built per batch when compressing (8,192 series at 512 rows)
_MAPPED_MIN = 1 << 18  # smaller window buffers (small heads, tests) come from np.zeros

A = TypeVar("A", bound=np.generic)


_RESERVE_MAX = 1 << 29  # bytes of address space reserved beyond a buffer's rows, at most


def mapped_zeros(shape: tuple[int, int], dtype: type[A]) -> npt.NDArray[A]:
    """A zeroed array in its own anonymous memory map.

    A window buffer is written only where series have samples and dropped whole once
    compressed.  From ``np.zeros`` it may come out of the allocator's heap, reusing
    memory that must be cleared (all of it resident at once) and, once freed, staying in
    the heap; a map is zero pages until written and goes back to the OS when dropped.

    The map has room for as many rows again (address space only: pages never written
    are never resident), so ``mapped_grow`` can extend the array in place, without copying
    the rows written so far, while a head's series count is still growing.
    """
    nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
    if nbytes < _MAPPED_MIN:
        return np.zeros(shape, dtype=dtype)
    # Private: pages given back (``release_pages``) are freed and read as zeros again; in a
    # shared map (mmap's default) they would stay allocated and keep their old contents.
    size = nbytes + min(nbytes, _RESERVE_MAX)
    whole = np.frombuffer(mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype=dtype)
    out: npt.NDArray[A] = whole[: shape[0] * shape[1]].reshape(shape)
    return out


def release_pages(a: npt.NDArray[A]) -> None:
    """Give a ``mapped_zeros`` array's pages back to the OS; it reads as zeros afterwards and
    only the pages written again become resident.  Arrays not from a map are left as they are."""
    base: object = a
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    if isinstance(base, mmap.mmap):
        base.madvise(mmap.MADV_DONTNEED)


def mapped_grow(a: npt.NDArray[A], cap: int) -> npt.NDArray[A]:
    """``a`` with ``cap`` rows, the new ones zero: the same memory extended when its map has
    room (see ``mapped_zeros``), else a copy in a new map."""
    whole = a.base
    width = a.shape[1]
    if (
        isinstance(whole, np.ndarray)
        and isinstance(whole.base, memoryview)
        and isinstance(whole.base.obj, mmap.mmap)
        and whole.ndim == 1
        and whole.dtype == a.dtype
        and a.flags.c_contiguous
        and whole.size >= cap * width
        and a.ctypes.data == whole.ctypes.data
    ):
        out: npt.NDArray[A] = whole[: cap * width].reshape(cap, width)
        return out
    b = mapped_zeros((cap, width), a.dtype.type)
    b[: a.shape[0]] = a
    return b


# How many windows of data a reopened window may trail the newest sample before it is
# compressed even though a late sender may still be writing to it.
_REOPENED_PATIENCE = 4

class Page:
    """Compressed rows of several series (refs sorted ascending)."""

    __slots__ = ("_refs", "blob", "maxt", "mint", "nsamples")

    def __init__(
        self, refs: I64, counts: I64, ts: I64, vs: F64, level: int, max_rows: int = FRAME_MAX_ROWS
    ) -> None:
        self._refs = refs.astype(np.int32)
        self.mint = int(ts.min())
        self.maxt = int(ts.max())
        self.nsamples = int(ts.shape[0])
        self.blob = encode_page(counts.astype(np.int32), ts, vs, level, max_rows=max_rows)

    @classmethod
    def from_blob(cls, refs: I64, blob: bytes) -> Page:
        _, ts, _ = decode_page(blob)
        p = cls.__new__(cls)
        p._refs = refs.astype(np.int32)
        p.mint = int(ts.min())
        p.maxt = int(ts.max())
        p.nsamples = int(ts.shape[0])
        p.blob = blob
        return p

    def refs(self) -> I64:
        return self._refs.astype(np.int64)

    @property
    def nrows(self) -> int:
        return int(self._refs.shape[0])

    def decode(self) -> tuple[I64, I64, F64]:
        counts, ts, vs = decode_page(self.blob)
        return counts.astype(np.int64), ts, vs

    def rows(self, q: I64) -> I64:
        """Row numbers of the refs ``q`` (all present in this page)."""
        rows: I64 = np.searchsorted(self._refs, q).astype(np.int64)
        return rows


# A window's timestamps are 2-byte codes while it has at most this many distinct ones.
_MAX_CODES = 1 << 16


@dataclass(slots=True)
class Window:
    """Uncompressed samples of one time window (timestamps as offsets from ``base``).

    ``ts`` holds each sample's offset through a code: the window's distinct offsets are few
    (one per scrape of each target: 2,400 in 4 minutes for 50 targets scraped every 5 s),
    so a 2-byte code per slot into ``times`` takes a third less than a 4-byte offset per
    slot with the 8-byte value (3 MiB less at 100,000 series × 16 slots), and writing a
    scrape's samples looks up one code.  A window whose distinct times outgrow the codes
    (``_code_limit``: per-sample timestamps from many senders) turns into plain ``int32``
    offsets (``times`` None) and stays so; readers go through ``offsets``.
    """

    wid: int
    base: int
    ts: npt.NDArray[Any]  # uint16 codes into ``times``, or int32 offsets when ``times`` is None
    vs: F64
    n: npt.NDArray[np.uint8]
    spills: list[Page] = field(default_factory=list)
    touched: int = INT64_MIN  # the head's newest time when a sample was last written here
    times: npt.NDArray[np.int32] | None = None  # code → offset from ``base``
    codes: dict[int, int] = field(default_factory=dict)  # offset → code

    @classmethod
    def coded(cls, wid: int, base: int, rows: int, slots: int) -> Window:
        """An empty window whose timestamps are codes."""
        return cls(wid, base, mapped_zeros((rows, slots), np.uint16), mapped_zeros((rows, slots), np.float64),
                   np.zeros(rows, dtype=np.uint8), times=np.zeros(256, dtype=np.int32))

    def offsets(self, key: Any) -> npt.NDArray[Any]:
        """``ts[key]`` as offsets from ``base``."""
        raw: npt.NDArray[Any] = self.ts[key]
        if self.times is None:
            return raw
        out: npt.NDArray[Any] = self.times[raw]
        return out

    def encode(self, off: int | I64) -> int | npt.NDArray[Any]:
        """What to store in ``ts`` for the offsets ``off`` (one for all, or one per sample)."""
        if self.times is None:
            return off
        codes = self.codes
        if isinstance(off, int):
            c = codes.get(off)
            if c is None:
                c = self._add_code(off)
                if c < 0:
                    return off
            return c
        u, inv = np.unique(off, return_inverse=True)
        cs = np.empty(u.shape[0], dtype=np.uint16)
        for i, x in enumerate(u.tolist()):
            c = codes.get(x)
            if c is None:
                c = self._add_code(x)
                if c < 0:
                    return off
            cs[i] = c
        out: npt.NDArray[Any] = cs[inv.ravel()]
        return out

    def _code_limit(self) -> int:
        # a code's dict entry (~160 bytes) must not cost more than the 2 bytes per slot saved
        return min(_MAX_CODES, max(1024, self.ts.size // 80))

    def _add_code(self, off: int) -> int:
        """A new code for ``off``, or -1 after turning the window into plain offsets."""
        assert self.times is not None
        c = len(self.codes)
        if c >= self._code_limit():
            self._widen()
            return -1
        if c == self.times.shape[0]:
            times = np.zeros(2 * c, dtype=np.int32)
            times[:c] = self.times
            self.times = times
        self.codes[off] = c
        self.times[c] = off
        return c

    def _widen(self) -> None:
        assert self.times is not None
        wide = mapped_zeros(self.ts.shape, np.int32)
        rows = np.flatnonzero(self.n)
        wide[rows] = self.times[self.ts[rows]]
        self.ts = wide
        self.times = None
        self.codes = {}


@dataclass(slots=True)
class Span:
    """A compressed window: frames of label-ordered series, and which frame holds a ref."""

    start: int
    end: int
    frames: list[Page]
    frame_of: npt.NDArray[np.int16] | npt.NDArray[np.int32]
    mint: int
    maxt: int

    @property
    def nsamples(self) -> int:
        return sum(f.nsamples for f in self.frames)
