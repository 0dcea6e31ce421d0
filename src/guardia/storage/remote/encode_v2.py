"""Remote write 2.0 requests (``io.prometheus.write.v2.Request``): every string once, in the
request's symbol table, and each series as references into it, with its samples in order and
its metadata (type, help, unit) attached, as the 2.0 protocol carries metadata per series.

A request's symbol table starts with the empty string (what an absent help or unit points
at).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.model.varint import encode_varint
from guardia.storage.remote.encode import f64_le
from guardia.storage.remote.encode_histograms import histogram_message
from guardia.storage.remote.metadata import METRIC_TYPES, Metadata

if TYPE_CHECKING:
    from guardia.storage.exemplars import Exemplar

V2_MESSAGE = "io.prometheus.write.v2.Request"
V2_CONTENT_TYPE = f"application/x-protobuf;proto={V2_MESSAGE}"
_FAMILY_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_info")

MetadataLookup = Callable[[str], Metadata | None]
_T = TypeVar("_T")
_F64 = struct.Struct("<d")


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
        _fill_tables()
        self.labels: list[tuple[tuple[str, str], ...] | None] = []
        # each series' metadata as last looked up, for the lookup it was found with
        self._md: dict[int, Metadata | None] = {}
        self._md_for: MetadataLookup | None = None

    def add(self, ref: int, labels: Labels) -> None:
        if ref >= len(self.labels):
            self.labels.extend([None] * (ref + 1 - len(self.labels)))
        self.labels[ref] = tuple(labels)

    def encode(self, refs: Sequence[int], timestamps: Sequence[int], values: Sequence[float],
               metadata: MetadataLookup | None) -> bytes:
        """An uncompressed Request: one TimeSeries per series, its samples in WAL order.

        Written field by field into bytes (the protobuf library's message objects cost
        ~5 µs a sample, ten times 1.0's encoder); symbol references and timestamps are
        encoded once per request, ``tests/storage/remote/test_encode.py`` decodes the result
        with the protobuf library."""
        symbols: dict[str, int] = {"": 0}
        order = sorted(range(len(refs)), key=refs.__getitem__)  # stable: a series' samples in order
        rs = [refs[i] for i in order]
        cut = [i for i in range(1, len(rs)) if rs[i] != rs[i - 1]]
        starts = [0, *cut]
        ends = [*cut, len(rs)]
        ts_sorted = [timestamps[i] for i in order]
        vb = f64_le(values)
        vs_packed = b"".join([vb[8 * i : 8 * i + 8] for i in order])
        stamps: dict[int, bytes] = {}
        parts: list[bytes] = []
        if metadata is not self._md_for:  # refreshed (every send_interval): look up again
            self._md, self._md_for = {}, metadata
        cached = self._md
        for a, b in zip(starts, ends, strict=True):
            if a == b:
                continue
            pairs = self.labels[rs[a]]
            assert pairs is not None
            lr = _refs(pairs, symbols)
            body = [b"\x0a", _uvarint(len(lr)), lr]
            for i in range(a, b):
                t = ts_sorted[i]
                tv = stamps.get(t)
                if tv is None:
                    tv = stamps[t] = b"\x10" + encode_varint(t)
                body += (b"\x12", _LEN[9 + len(tv)], b"\x09", vs_packed[8 * i : 8 * i + 8], tv)
            if metadata is not None:
                ref = rs[a]
                if ref in cached:
                    md = cached[ref]
                else:
                    md = cached[ref] = metadata(next((v for k, v in pairs if k == "__name__"), ""))
                if md is not None:
                    body += _metadata_field(md, symbols)
            series = b"".join(body)
            parts += (b"\x2a", _uvarint(len(series)), series)
        return _symbol_table(symbols) + b"".join(parts)


# varints below 2**14, filled by the first ``V2Encoder``: 16,384 bytes objects (~0.55 MiB) that
# a process sending remote write 1.0 (every agent by default) never needs
_SMALL: list[bytes] = []
_LEN: list[bytes] = []  # a sample's length: one byte


def _fill_tables() -> None:
    if not _SMALL:
        _SMALL.extend(encode_varint(i) for i in range(1 << 14))
        _LEN.extend(_SMALL[:128])


def _uvarint(i: int) -> bytes:
    return _SMALL[i] if i < len(_SMALL) else encode_varint(i)


def encode_histograms(series: list[tuple[tuple[tuple[str, str], ...], list[tuple[int, FloatHistogram]]]],
                      metadata: MetadataLookup | None) -> bytes:
    """An uncompressed Request of native histogram samples: per series (its label pairs after
    relabeling) one TimeSeries with its ``histograms`` (field 3) in order and its metadata."""
    return _encode_series(series, metadata, lambda t_h, _: (b"\x1a", histogram_message(*t_h)))


def encode_exemplars(series: Sequence[tuple[tuple[tuple[str, str], ...], Sequence[Exemplar]]],
                     metadata: MetadataLookup | None) -> bytes:
    """An uncompressed Request of exemplars (``send_exemplars``): per series one TimeSeries
    with no samples and its ``exemplars`` (field 4), each label set as symbol references."""

    def message(ex: Exemplar, symbols: dict[str, int]) -> tuple[bytes, bytes]:
        refs = _refs(ex.labels, symbols)
        m = (b"\x0a" + _uvarint(len(refs)) + refs if refs else b"") + b"\x11" + _F64.pack(ex.value) \
            + b"\x18" + encode_varint(ex.timestamp_ms & 0xFFFFFFFFFFFFFFFF)
        return b"\x22", m

    return _encode_series(series, metadata, message)


def _refs(pairs: Iterable[tuple[str, str]], symbols: dict[str, int]) -> bytes:
    """Packed symbol references of label pairs, adding new strings to the request's table."""
    return b"".join([_uvarint(symbols.setdefault(x, len(symbols))) for kv in pairs for x in kv])


def _encode_series(series: Sequence[tuple[tuple[tuple[str, str], ...], Sequence[_T]]],
                   metadata: MetadataLookup | None,
                   message: Callable[[_T, dict[str, int]], tuple[bytes, bytes]]) -> bytes:
    """A Request whose series each carry messages of one kind: ``message`` gives an item's
    field tag and body (it may add strings to the symbol table)."""
    symbols: dict[str, int] = {"": 0}
    parts: list[bytes] = []
    for pairs, items in series:
        lr = _refs(pairs, symbols)
        body = [b"\x0a", _uvarint(len(lr)), lr]
        for item in items:
            tag, m = message(item, symbols)
            body += (tag, _uvarint(len(m)), m)
        md = metadata(next((v for k, v in pairs if k == "__name__"), "")) if metadata is not None else None
        if md is not None:
            body += _metadata_field(md, symbols)
        s = b"".join(body)
        parts += (b"\x2a", _uvarint(len(s)), s)
    return _symbol_table(symbols) + b"".join(parts)


def _metadata_field(md: Metadata, symbols: dict[str, int]) -> tuple[bytes, bytes, bytes]:
    """A TimeSeries' ``metadata`` (field 5): type, and help and unit as symbol references."""
    _, mtype, help_, unit = md
    kind = METRIC_TYPES.get(mtype, 0)
    m = ((b"\x08" + _uvarint(kind) if kind else b"")
         + b"\x18" + _uvarint(symbols.setdefault(help_, len(symbols)))
         + b"\x20" + _uvarint(symbols.setdefault(unit, len(symbols))))
    return b"\x2a", _uvarint(len(m)), m


def _symbol_table(symbols: dict[str, int]) -> bytes:
    """The Request's ``symbols`` (field 4), in reference order."""
    table: list[bytes] = []
    for sym in symbols:
        raw = sym.encode()
        table += (b"\x22", _uvarint(len(raw)), raw)
    return b"".join(table)
