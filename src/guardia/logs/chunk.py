"""A closed chunk of one stream's lines: timestamps, line offsets and the text, in one zstd frame.

The frame holds the nanosecond timestamps as deltas (int64), the line lengths (uint32) and
then the lines joined by ``\\n``.  Reading a chunk is one decompression and three
``np.frombuffer`` views: line filters then search the joined text with ``bytes.find``
instead of looking at lines one by one, and the offsets turn a hit back into a line.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zstandard

_HEADER = struct.Struct("<4sIqqI")  # magic, lines, mint, maxt, raw bytes
MAGIC = b"GLC1"
LEVEL = 9

_compressor = zstandard.ZstdCompressor(level=LEVEL)
_decompressor = zstandard.ZstdDecompressor()


class ChunkCorruptError(ValueError):
    """A chunk on disk does not decode: the file was damaged or truncated."""


@dataclass(frozen=True, slots=True)
class ChunkMeta:
    """Where a closed chunk lives and what it covers, kept in memory by the stream index."""

    segment: int
    offset: int
    length: int
    mint: int
    maxt: int
    lines: int
    raw_bytes: int


@dataclass(slots=True)
class Lines:
    """Decoded lines of one chunk (or one head): sorted timestamps, offsets into ``text``.

    Line ``i`` is ``text[starts[i]:ends[i]]``; lines are separated by one ``\\n`` in ``text``,
    so a needle without a newline never matches across two lines.
    """

    ts: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    text: bytes

    def __len__(self) -> int:
        return len(self.ts)

    def line(self, i: int) -> bytes:
        return self.text[int(self.starts[i]) : int(self.ends[i])]

    def take(self, idx: npt.NDArray[np.intp]) -> Lines:
        """The subset at ``idx`` (sorted indexes), sharing ``text``."""
        return Lines(self.ts[idx], self.starts[idx], self.ends[idx], self.text)

    def sizes(self) -> npt.NDArray[np.int64]:
        return self.ends - self.starts

    @classmethod
    def from_list(cls, ts: npt.NDArray[np.int64], lines: list[bytes]) -> Lines:
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        starts = np.zeros(len(lines), dtype=np.int64)
        if len(lines) > 1:
            np.cumsum(lengths[:-1] + 1, out=starts[1:])
        return cls(ts, starts, starts + lengths, b"\n".join(lines))


def encode(ts: npt.NDArray[np.int64], lines: list[bytes]) -> tuple[bytes, int]:
    """(chunk bytes, raw line bytes) for lines already sorted by time."""
    n = len(lines)
    deltas = np.empty(n, dtype=np.int64)
    if n:
        deltas[0] = ts[0]
        np.subtract(ts[1:], ts[:-1], out=deltas[1:])
    lengths = np.fromiter(map(len, lines), dtype=np.uint32, count=n)
    raw = int(lengths.sum())
    body = b"".join((deltas.tobytes(), lengths.tobytes(), b"\n".join(lines)))
    header = _HEADER.pack(MAGIC, n, int(ts[0]) if n else 0, int(ts[-1]) if n else 0, raw)
    return header + _compressor.compress(body), raw


def decode(data: bytes) -> Lines:
    if len(data) < _HEADER.size:
        raise ChunkCorruptError("chunk shorter than its header")
    magic, n, _mint, _maxt, _raw = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ChunkCorruptError(f"bad chunk magic {magic!r}")
    try:
        body = _decompressor.decompress(data[_HEADER.size :])
    except zstandard.ZstdError as e:
        raise ChunkCorruptError(f"chunk does not decompress: {e}") from None
    deltas = np.frombuffer(body, dtype=np.int64, count=n)
    lengths = np.frombuffer(body, dtype=np.uint32, count=n, offset=8 * n).astype(np.int64)
    text = body[12 * n :]
    ts = np.cumsum(deltas)
    starts = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
    return Lines(ts, starts, starts + lengths, text)
