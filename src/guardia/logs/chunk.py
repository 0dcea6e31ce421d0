"""A closed chunk of one stream's lines: timestamps, line offsets and the text, in one zstd frame.

The frame holds the nanosecond timestamps as deltas (int64), the line lengths (uint32, only
when some line holds a newline itself) and the lines joined by ``\\n``.  Reading a chunk is
one decompression and a few numpy calls: line filters then search the joined text with
``bytes.find`` instead of looking at lines one by one, and the offsets turn a hit into a line.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson
import zstandard

_HEADER = struct.Struct("<4sIqqI")  # magic, lines, mint, maxt, raw bytes
MAGIC = b"GLC1"  # line lengths stored (some line holds a newline)
MAGIC_SPLIT = b"GLC2"  # lines split at newlines
# the same two with each line's structured metadata (Loki 3) before the lengths: its lengths
# (uint32) and the encoded metadata back to back
MAGIC_META = b"GLM1"
MAGIC_SPLIT_META = b"GLM2"
_WITH_META = {MAGIC_META: MAGIC, MAGIC_SPLIT_META: MAGIC_SPLIT}
# the level chunks are kept at: what the ≤ 0.12 stored-bytes-per-raw-byte target needs
LEVEL = 9
# the level a head is compressed at when it is cut, on the ingest path: ~6x cheaper per line
# than LEVEL (0.5 against 3.1 µs) for ~25% more bytes; the store's compaction recompresses
# these chunks to LEVEL once ingestion is idle (``LogStore.compact``)
FAST_LEVEL = 1

# zstd contexts are not safe to share between threads (compression runs in the store's
# background thread, queries in worker threads): one of each per thread (and level)
_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    comps: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "comps", None)
    if comps is None:
        comps = _local.comps = {}
    c = comps.get(level)
    if c is None:
        c = comps[level] = zstandard.ZstdCompressor(level=level)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if d is None:
        d = _local.dctx = zstandard.ZstdDecompressor()
    return d


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
    # compressed at FAST_LEVEL when its head was cut: compaction recompresses it to LEVEL
    fast: bool = False


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
    # each line's structured metadata (``encode_metadata``; b"" for none); None when no line
    # of these has any, the usual case, which then costs nothing
    meta: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self.ts)

    def line(self, i: int) -> bytes:
        return self.text[int(self.starts[i]) : int(self.ends[i])]

    def take(self, idx: npt.NDArray[np.intp]) -> Lines:
        """The subset at ``idx`` (sorted indexes), sharing ``text``."""
        meta = self.meta
        return Lines(self.ts[idx], self.starts[idx], self.ends[idx], self.text,
                     None if meta is None else [meta[i] for i in idx.tolist()])

    def slice(self, lo: int, hi: int) -> Lines:
        meta = self.meta
        return Lines(self.ts[lo:hi], self.starts[lo:hi], self.ends[lo:hi], self.text,
                     None if meta is None else meta[lo:hi])

    def sizes(self) -> npt.NDArray[np.int64]:
        return self.ends - self.starts

    @classmethod
    def from_list(
        cls, ts: npt.NDArray[np.int64], lines: list[bytes], meta: list[bytes] | None = None
    ) -> Lines:
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        starts = np.zeros(len(lines), dtype=np.int64)
        if len(lines) > 1:
            np.cumsum(lengths[:-1] + 1, out=starts[1:])
        return cls(ts, starts, starts + lengths, b"\n".join(lines), meta)


def encode_lines(lines: Lines, level: int = LEVEL) -> tuple[bytes, int]:
    """(chunk bytes, raw line bytes) of lines already sorted by time."""
    ts = lines.ts
    n = len(ts)
    deltas = np.empty(n, dtype=np.int64)
    if n:
        deltas[0] = ts[0]
        np.subtract(ts[1:], ts[:-1], out=deltas[1:])
    lengths = lines.sizes().astype(np.uint32)
    raw = int(lengths.sum())
    text: bytes | memoryview
    if not n:
        text = b""
    elif np.array_equal(lines.starts[1:], lines.ends[:-1] + 1):
        # consecutive lines of one text (a head cut into pieces): a view, no per-line work
        # and no copy (this runs in the compression thread: every copy made here holds the
        # GIL the ingesting thread is waiting for)
        text = memoryview(lines.text)[int(lines.starts[0]) : int(lines.ends[-1])]
    else:
        text = b"\n".join(lines.line(i) for i in range(n))
    parts: list[bytes | memoryview] = [deltas.data]
    meta = lines.meta if lines.meta is not None and any(lines.meta) else None
    if meta is not None:
        parts.append(np.fromiter(map(len, meta), dtype=np.uint32, count=n).data)
        parts.append(b"".join(meta))
    if _count_newlines(text) == max(n - 1, 0):
        # no line holds a newline: the separators give the offsets, lengths need not be stored
        magic = MAGIC_SPLIT if meta is None else MAGIC_SPLIT_META
    else:
        magic = MAGIC if meta is None else MAGIC_META
        parts.append(lengths.data)
    parts.append(text)
    header = _HEADER.pack(magic, n, int(ts[0]) if n else 0, int(ts[-1]) if n else 0, raw)
    # streamed into one frame that records its size (one-shot decompression needs it)
    z = _compressor(level).compressobj(size=sum(len(p) if isinstance(p, bytes) else p.nbytes for p in parts))
    out = [header, *(z.compress(p) for p in parts), z.flush()]
    return b"".join(out), raw


def _count_newlines(text: bytes | memoryview) -> int:
    if isinstance(text, bytes):
        return text.count(b"\n")
    return int(np.count_nonzero(np.frombuffer(text, dtype=np.uint8) == 10))


def encode(ts: npt.NDArray[np.int64], lines: list[bytes]) -> tuple[bytes, int]:
    """(chunk bytes, raw line bytes) for lines already sorted by time."""
    return encode_lines(Lines.from_list(ts, lines))


def _body(data: bytes) -> tuple[bytes, int, bytes]:
    """(magic, line count, decompressed body) of a chunk."""
    if len(data) < _HEADER.size:
        raise ChunkCorruptError("chunk shorter than its header")
    magic, n, _mint, _maxt, _raw = _HEADER.unpack_from(data)
    if magic not in (MAGIC, MAGIC_SPLIT, MAGIC_META, MAGIC_SPLIT_META):
        raise ChunkCorruptError(f"bad chunk magic {magic!r}")
    try:
        body = _decompressor().decompress(data[_HEADER.size :])
    except zstandard.ZstdError as e:
        raise ChunkCorruptError(f"chunk does not decompress: {e}") from None
    return magic, n, body


def recompress(data: bytes, level: int = LEVEL) -> bytes:
    """The same chunk with its frame compressed at ``level``: header and content unchanged,
    so nothing is re-derived (compaction of chunks cut at ``FAST_LEVEL``)."""
    _magic, _n, body = _body(data)
    return data[: _HEADER.size] + _compressor(level).compress(body)


def decode(data: bytes) -> Lines:
    magic, n, body = _body(data)
    ts = np.cumsum(np.frombuffer(body, dtype=np.int64, count=n))
    pos = 8 * n
    meta: list[bytes] | None = None
    if magic in _WITH_META:
        meta, pos = read_sized(body, n, pos)
        magic = _WITH_META[magic]
    starts = np.zeros(n, dtype=np.int64)
    if magic == MAGIC_SPLIT:
        text = body[pos:]
        newlines = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10)
        if len(newlines) != max(n - 1, 0):
            raise ChunkCorruptError(f"chunk holds {len(newlines) + 1} lines, its header says {n}")
        starts[1:] = newlines + 1
        ends = np.empty(n, dtype=np.int64)
        ends[:-1] = newlines
        if n:
            ends[-1] = len(text)
        return Lines(ts, starts, ends, text, meta)
    lengths = np.frombuffer(body, dtype=np.uint32, count=n, offset=pos).astype(np.int64)
    text = body[pos + 4 * n :]
    if n > 1:
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
    return Lines(ts, starts, starts + lengths, text, meta)


def read_sized(buf: bytes, n: int, pos: int) -> tuple[list[bytes], int]:
    """``n`` uint32 lengths at ``pos``, then as many byte strings back to back (the layout the
    WAL and chunks use for metadata): the strings and the position after them."""
    lengths = np.frombuffer(buf, dtype=np.uint32, count=n, offset=pos).tolist()
    pos += 4 * n
    out: list[bytes] = []
    for ln in lengths:
        out.append(buf[pos : pos + ln])
        pos += ln
    return out, pos


def encode_metadata(pairs: dict[str, str] | None) -> bytes:
    """A line's structured metadata as stored (b"" for none): JSON, keys sorted."""
    return orjson.dumps(pairs, option=orjson.OPT_SORT_KEYS) if pairs else b""


def decode_metadata(raw: bytes) -> dict[str, str]:
    return orjson.loads(raw) if raw else {}  # type: ignore[no-any-return]
