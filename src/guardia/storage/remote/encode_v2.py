"""Remote write 2.0 requests (``io.prometheus.write.v2.Request``): every string once, in the
request's symbol table, and each series as references into it, with its samples in order and
its metadata (type, help, unit) attached, as the 2.0 protocol carries metadata per series.

A request's symbol table starts with the empty string (what an absent help or unit points
at).  Built with the upb message classes of ``proto``: 2.0 is the path for receivers that want
it; 1.0 (``encode``) stays the bulk fast path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.storage.remote.metadata import METRIC_TYPES, Metadata

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

V2_MESSAGE = "io.prometheus.write.v2.Request"
V2_CONTENT_TYPE = f"application/x-protobuf;proto={V2_MESSAGE}"
_FAMILY_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_info")

MetadataLookup = Callable[[str], Metadata | None]


def family_metadata(table: dict[str, Metadata]) -> MetadataLookup:
    """A series name's metadata: by its name, else by the family a suffix names
    (``http_requests_total`` → ``http_requests``, ``..._bucket`` → the histogram)."""

    def lookup(name: str) -> Metadata | None:
        md = table.get(name)
        if md is not None:
            return md
        for suffix in _FAMILY_SUFFIXES:
            if name.endswith(suffix):
                md = table.get(name[: -len(suffix)])
                if md is not None:
                    return md
        return None

    return lookup


class V2Encoder:
    """Each series ref's label pairs (after relabeling) and the request builder."""

    def __init__(self) -> None:
        self.labels: list[tuple[tuple[str, str], ...] | None] = []

    def add(self, ref: int, labels: Labels) -> None:
        if ref >= len(self.labels):
            self.labels.extend([None] * (ref + 1 - len(self.labels)))
        self.labels[ref] = tuple(labels)

    def encode(self, refs: I64, timestamps: I64, values: F64, metadata: MetadataLookup | None) -> bytes:
        """An uncompressed Request: one TimeSeries per series, its samples in WAL order."""
        from guardia.storage.remote.proto import V2Request  # protobuf: loaded by 2.0 senders only

        req = V2Request()
        symbols: dict[str, int] = {"": 0}

        def sym(s: str) -> int:
            i = symbols.get(s)
            if i is None:
                i = symbols[s] = len(symbols)
            return i

        order = np.argsort(refs, kind="stable")
        rs = refs[order]
        cut = np.flatnonzero(np.diff(rs)) + 1
        starts = [0, *cut.tolist()]
        ends = [*cut.tolist(), int(rs.shape[0])]
        ts_sorted = timestamps[order].tolist()
        vs_sorted = values[order].tolist()
        for a, b in zip(starts, ends, strict=True):
            if a == b:
                continue
            pairs = self.labels[int(rs[a])]
            assert pairs is not None
            series = req.timeseries.add()
            series.labels_refs.extend([sym(x) for kv in pairs for x in kv])
            add = series.samples.add
            for t, v in zip(ts_sorted[a:b], vs_sorted[a:b], strict=True):
                add(value=v, timestamp=t)
            if metadata is not None:
                name = next((v for k, v in pairs if k == "__name__"), "")
                md = metadata(name)
                if md is not None:
                    _, mtype, help_, unit = md
                    m = series.metadata
                    m.type = METRIC_TYPES.get(mtype, 0)
                    m.help_ref = sym(help_)
                    m.unit_ref = sym(unit)
        req.symbols.extend(symbols)
        return bytes(req.SerializeToString())
