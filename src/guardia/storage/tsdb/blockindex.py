"""A block's series table and page table (the ``index`` file), shared by the float
pages and the native histogram pages of a block (``histograms/index``).

``GIDX1\n``, the CRC-32 of the rest, then one zstd stream: the number of symbols, series
and pages (u32 each); the symbols (u32 length + UTF-8, sorted); per series its number of
labels (u16); per label its (name, value) symbol numbers (u32 pairs); the page table, six
i64 per page: offset in the chunks file, length, first series, CRC-32 of the page,
earliest and latest timestamp in it.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import zstandard

from guardia.model import Labels

I64 = npt.NDArray[np.int64]

INDEX_MAGIC = b"GIDX1\n"


class BlockCorruptError(ValueError):
    """A block whose meta or index cannot be read: the block is skipped as a whole."""


def write_index(path: Path, labels: list[Labels], pages: list[tuple[int, int, int, int, int, int]]) -> None:
    symbols: dict[str, int] = {}
    for lb in labels:
        for k, v in lb:
            if k not in symbols:
                symbols[k] = 0
            if v not in symbols:
                symbols[v] = 0
    sym_list = sorted(symbols)
    for i, s in enumerate(sym_list):
        symbols[s] = i
    sym_blob = b"".join(struct.pack("<I", len(b)) + b for b in (s.encode() for s in sym_list))
    nlab = np.array([len(lb) for lb in labels], dtype="<u2")
    pairs = np.array([symbols[x] for lb in labels for kv in lb for x in kv], dtype="<u4")
    pt = np.array(pages, dtype=np.int64).reshape(-1, 6)
    body = b"".join(
        (
            struct.pack("<III", len(sym_list), len(labels), len(pages)),
            sym_blob,
            nlab.tobytes(),
            pairs.tobytes(),
            pt.astype("<i8").tobytes(),
        )
    )
    z = zstandard.ZstdCompressor(level=3).compress(body)
    with open(path, "wb") as f:
        f.write(INDEX_MAGIC + struct.pack("<I", zlib.crc32(z)) + z)
        f.flush()
        os.fsync(f.fileno())


def read_index(path: Path) -> tuple[list[str], I64, npt.NDArray[np.uint32], I64, bytes]:
    """(symbols, labels per series, their (name, value) symbol numbers, page table, and the
    series table's bytes: blocks with equal bytes hold the very same series in the same
    order, and share one index)."""
    raw = path.read_bytes()
    if not raw.startswith(INDEX_MAGIC):
        raise BlockCorruptError(f"{path}: not a guardia block index")
    (crc,) = struct.unpack_from("<I", raw, len(INDEX_MAGIC))
    z = raw[len(INDEX_MAGIC) + 4 :]
    if zlib.crc32(z) != crc:
        raise BlockCorruptError(f"{path}: index checksum mismatch")
    body = zstandard.ZstdDecompressor().decompress(z)
    nsym, nser, npages = struct.unpack_from("<III", body, 0)
    pos = 12
    syms: list[str] = []
    for _ in range(nsym):
        (ln,) = struct.unpack_from("<I", body, pos)
        pos += 4
        syms.append(body[pos : pos + ln].decode())
        pos += ln
    nlab = np.frombuffer(body, dtype="<u2", count=nser, offset=pos).astype(np.int64)
    pos += 2 * nser
    npairs = int(nlab.sum())
    pairs = np.frombuffer(body, dtype="<u4", count=2 * npairs, offset=pos)
    if npairs and int(pairs.max()) >= nsym:
        raise BlockCorruptError(f"{path}: a label refers to symbol {int(pairs.max())} of {nsym}")
    pos += 8 * npairs
    pt = np.frombuffer(body, dtype="<i8", count=6 * npages, offset=pos).reshape(npages, 6).astype(np.int64)
    return syms, nlab, pairs, pt, body[4:pos]  # series count, symbols, label counts, pairs



def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


