"""Write-ahead log of pushed lines: one CRC-framed record per push, written before the push
is acknowledged, so ``kill -9`` loses no line a client was told was stored.

A record carries a sequence number and, per stream, its id, the timestamps (int64), the
line lengths (uint32) and the lines back to back: encoding is three ``tobytes`` and a
``join``.  Segments rotate at ``segment_bytes``; the store deletes a segment once every
stream with lines in it has cut them into chunks.  Replay stops at the first torn or
corrupt record (a crash in the middle of a write) and truncates it away.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from guardia.logs.chunk import read_sized

_FRAME = struct.Struct("<II")  # payload length, crc32
_REC = struct.Struct("<QI")  # seq, streams
_STREAM = struct.Struct("<II")  # stream id, lines


@dataclass(slots=True)
class WalEntry:
    stream: int
    ts: npt.NDArray[np.int64]
    lines: list[bytes]
    lengths: npt.NDArray[np.uint32]
    meta: list[bytes] | None = None  # structured metadata per line (chunk.encode_metadata)


_HAS_META = 1 << 31  # set in a stream's line count when its metadata follows its lines


def encode_record(seq: int, entries: list[WalEntry]) -> bytes:
    parts: list[bytes] = [_REC.pack(seq, len(entries))]
    for e in entries:
        n = len(e.lines)
        meta = e.meta if e.meta is not None and any(e.meta) else None
        parts.append(_STREAM.pack(e.stream, n | (_HAS_META if meta is not None else 0)))
        parts.append(np.asarray(e.ts, dtype=np.int64).tobytes())
        parts.append(e.lengths.astype(np.uint32, copy=False).tobytes())
        parts.extend(e.lines)
        if meta is not None:
            parts.append(np.fromiter(map(len, meta), dtype=np.uint32, count=n).tobytes())
            parts.extend(meta)
    payload = b"".join(parts)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode_record(payload: bytes) -> tuple[int, list[WalEntry]]:
    seq, count = _REC.unpack_from(payload)
    pos = _REC.size
    out: list[WalEntry] = []
    for _ in range(count):
        sid, n = _STREAM.unpack_from(payload, pos)
        has_meta = bool(n & _HAS_META)
        n &= ~_HAS_META
        pos += _STREAM.size
        ts = np.frombuffer(payload, dtype=np.int64, count=n, offset=pos).copy()
        pos += 8 * n
        lengths = np.frombuffer(payload, dtype=np.uint32, count=n, offset=pos).copy()
        pos += 4 * n
        lines: list[bytes] = []
        for ln in lengths.tolist():
            lines.append(payload[pos : pos + ln])
            pos += ln
        meta: list[bytes] | None = None
        if has_meta:
            meta, pos = read_sized(payload, n, pos)
        out.append(WalEntry(sid, ts, lines, lengths, meta))
    return seq, out


class Wal:
    def __init__(self, directory: Path, segment_bytes: int = 128 << 20, fsync: bool = False) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        existing = self.segments()
        self.current = existing[-1] if existing else 1
        self._f = open(self._path(self.current), "ab")  # noqa: SIM115 (held open for the store's life)
        # last sequence written to each segment, for deciding which can go
        self.segment_last_seq: dict[int, int] = {}

    def _path(self, n: int) -> Path:
        return self.dir / f"{n:08d}"

    def segments(self) -> list[int]:
        return sorted(int(p.name) for p in self.dir.iterdir() if p.name.isdigit())

    def replay(self) -> Iterator[tuple[int, int, list[WalEntry]]]:
        """(segment, seq, entries) of every intact record, oldest first; a torn tail is cut off."""
        for seg in self.segments():
            path = self._path(seg)
            data = path.read_bytes()
            pos = 0
            while pos + _FRAME.size <= len(data):
                length, crc = _FRAME.unpack_from(data, pos)
                payload = data[pos + _FRAME.size : pos + _FRAME.size + length]
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                seq, entries = decode_record(payload)
                self.segment_last_seq[seg] = seq
                yield seg, seq, entries
                pos += _FRAME.size + length
            if pos < len(data):
                with open(path, "r+b") as f:
                    f.truncate(pos)

    def append(self, seq: int, entries: list[WalEntry]) -> None:
        rec = encode_record(seq, entries)
        if self._f.tell() + len(rec) > self.segment_bytes and self._f.tell() > 0:
            self._rotate()
        self._f.write(rec)
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())
        self.segment_last_seq[self.current] = seq

    def _rotate(self) -> None:
        self._f.close()
        self.current += 1
        self._f = open(self._path(self.current), "ab")  # noqa: SIM115

    def drop_before(self, min_needed_seq: int) -> list[int]:
        """Delete whole segments whose records are all below ``min_needed_seq``."""
        dropped: list[int] = []
        for seg in self.segments():
            if seg == self.current:
                break
            last = self.segment_last_seq.get(seg)
            if last is not None and last >= min_needed_seq:
                break
            self._path(seg).unlink(missing_ok=True)
            self.segment_last_seq.pop(seg, None)
            dropped.append(seg)
        return dropped

    def close(self) -> None:
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())
        self._f.close()
