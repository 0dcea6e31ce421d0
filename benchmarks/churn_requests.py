"""Remote-write requests for ``tsdb_churn --prometheus``, fast enough to feed the full churn.

Every simulated minute sends the same 200,000 series with one new sample each; only the value
and the timestamp bytes change.  Each target's 200 series are kept as one byte block of
finished ``TimeSeries`` messages (labels, then a sample with a fixed-size tail: a double and a
6-byte timestamp varint, as ``remote.encode`` lays them out), rebuilt only when its pod
restarts; a request is the blocks of some targets joined, with the values and the timestamp
written in at known offsets by numpy, then snappy.  That is ~0.1 s of CPU a round instead of
the ~0.8 s ``PrefixTable.encode`` takes for 200,000 samples, which kept the full churn out of
reach (1,440 rounds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model.varint import encode_varint
from guardia.storage.remote.encode import TS_MAX, TS_MIN, compress, encode_labels, series_prefix

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_TAIL = b"\x12\x10\x09" + bytes(8) + b"\x10" + bytes(6)  # sample field: value at +3, ts at +12


class ChurnRequests:
    """Per-target blocks of encoded series; ``bodies`` makes one round's requests."""

    def __init__(self, targets: int) -> None:
        self.blocks: list[U8] = [np.zeros(0, np.uint8)] * targets
        self.value_at: list[I64] = [np.zeros(0, np.int64)] * targets
        self._pairs: dict[tuple[str, str], bytes] = {}  # a label pair's encoding: most repeat

    def _labels(self, lb: Labels) -> bytes:
        out = []
        for pair in lb:
            enc = self._pairs.get(pair)
            if enc is None:
                enc = self._pairs[pair] = encode_labels(Labels.from_sorted([pair]))
                if len(self._pairs) > 100_000:
                    self._pairs.clear()
            out.append(enc)
        return b"".join(out)

    def set_target(self, i: int, series: list[Labels]) -> None:
        """The target's series from now on (a restarted pod: new ``instance``)."""
        parts: list[bytes] = []
        offs: list[int] = []
        pos = 0
        for lb in series:
            p = series_prefix(self._labels(lb))
            parts.append(p)
            parts.append(_TAIL)
            offs.append(pos + len(p) + 3)
            pos += len(p) + len(_TAIL)
        self.blocks[i] = np.frombuffer(b"".join(parts), dtype=np.uint8).copy()
        self.value_at[i] = np.array(offs, dtype=np.int64)

    def bodies(self, t_ms: int, values: F64, shards: int) -> list[bytes]:
        """Compressed WriteRequests for one round: every target's series at ``t_ms`` with
        ``values`` (targets × series per target, row-major), split into ``shards`` requests
        of whole targets."""
        if not TS_MIN <= t_ms < TS_MAX:
            raise ValueError(f"timestamp {t_ms} does not take a 6-byte varint")
        ts = np.frombuffer(encode_varint(t_ms), dtype=np.uint8)
        n = len(self.blocks)
        per = values.reshape(n, -1)
        out = []
        for s in range(shards):
            lo, hi = s * n // shards, (s + 1) * n // shards
            if lo == hi:
                continue
            sizes = np.array([self.blocks[i].shape[0] for i in range(lo, hi)], dtype=np.int64)
            base = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            buf = np.concatenate(self.blocks[lo:hi])
            at = np.concatenate([self.value_at[i] + base[k] for k, i in enumerate(range(lo, hi))])
            buf[at[:, None] + np.arange(8)] = per[lo:hi].ravel().view(np.uint8).reshape(-1, 8)
            buf[(at + 9)[:, None] + np.arange(6)] = ts
            out.append(compress(buf.tobytes()))
        return out
