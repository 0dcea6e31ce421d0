"""Remote write's native histograms received as columns (``histcolumns``) against the object
path (``histograms.decode_histogram``, one ``FloatHistogram`` each): the same payloads,
random and damaged, sent through both into two stores must give the same answers, errors,
counters, WAL bytes and stored data, bit for bit."""

from __future__ import annotations

import contextlib
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from guardia.model.histcols import HistCols
from guardia.storage.remote import WriteReceiver, histcolumns, histwire, write_receiver
from guardia.storage.remote.decode import RemoteWriteError, decode_write_request
from guardia.storage.remote.histograms import decode_histogram
from guardia.storage.remote.proto import Histogram, TimeSeries, V2Request, WriteRequest
from guardia.storage.tsdb import TSDB, TSDBOptions
from tests.storage.remote.storebits import stored_bits, wal_bytes

NOW = 1_700_000_000_000
_STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
_SHAPES: list[tuple[int, list[tuple[int, int]], list[tuple[int, int]]]] = [
    (3, [(8, 20)], []),
    (0, [(-1, 2), (1, 1)], [(0, 1)]),
    (-4, [(0, 3), (0, 2)], [(-2, 2), (3, 1)]),
    (8, [], []),
    (-53, [(0, 4)], []),
]


def _spans(rng: random.Random) -> list[tuple[int, int]]:
    out = []
    for i in range(rng.randint(0, 3)):
        out.append((rng.randint(-5, 5) if i == 0 else rng.randint(0, 3), rng.randint(0, 4)))
    return out


def _histogram(rng: random.Random, t: int, damage: bool) -> Any:
    """A Histogram message, mostly of a few shared shapes; with ``damage``, maybe one that
    the object path refuses or that the columns path hands back to it."""
    if rng.random() < 0.7:
        schema, pos, neg = rng.choice(_SHAPES)
    else:
        schema, pos, neg = rng.choice([-4, 0, 2, 8, -53]), _spans(rng), _spans(rng)
        if schema == -53:
            neg = []
    m = Histogram(schema=schema, timestamp=t)
    m.zero_threshold = rng.choice([0.0, -0.0, 2.0**-128, 0.001])
    m.reset_hint = rng.choice([0, 0, 1, 2, 3, 7])
    for side, spans in ((m.positive_spans, pos), (m.negative_spans, neg)):
        for off, ln in spans:
            side.add(offset=off, length=ln)
    npos, nneg = sum(n for _, n in pos), sum(n for _, n in neg)
    if schema == -53:
        m.custom_values.extend(sorted(rng.sample(range(1, 100), npos))[: max(npos - 1, 0)])
    if rng.random() < 0.75:  # integer: deltas
        buckets = [[rng.randint(0, 50) for _ in range(k)] for k in (npos, nneg)]
        for deltas, counts in ((m.positive_deltas, buckets[0]), (m.negative_deltas, buckets[1])):
            deltas.extend(int(b - a) for a, b in zip([0, *counts], counts, strict=False))
        zero = rng.randint(0, 5)
        m.zero_count_int = zero
        m.count_int = zero + sum(map(sum, buckets)) + rng.choice([0, 0, 0, 1])
        if rng.random() < 0.05:
            m.count_int = 2**64 - 1
    else:
        m.positive_counts.extend(rng.choice([0.0, -0.0, 1.5, 2.0**60 + 1, float("nan")]) for _ in range(npos))
        m.negative_counts.extend(rng.uniform(0, 9) for _ in range(nneg))
        m.zero_count_float = rng.uniform(0, 3)
        m.count_float = rng.uniform(0, 300)
        if npos + nneg == 0 and rng.random() < 0.5:
            m.ClearField("count")  # float only by its zero count
    m.sum = rng.choice([1.5, 0.0, -0.0, float("nan"), _STALE, 1e300])
    if damage:
        what = rng.randrange(9)
        if what == 0:
            m.schema = rng.choice([9, -5, -52])
        elif what == 1 and len(m.positive_deltas):
            m.positive_deltas[-1] = -(10**6)  # a count going negative
        elif what == 2 and len(m.positive_deltas):
            del m.positive_deltas[-1]  # spans need more buckets
        elif what == 3:
            m.positive_spans.add(offset=-1, length=1)  # a later negative offset
            m.positive_deltas.append(0)
        elif what == 4 and len(m.positive_deltas):
            m.positive_deltas[0] = 2**50  # too large to sum in int64 here: the object path's
        elif what == 5:
            m.schema = -53
            m.custom_values.extend([3.0, 2.0])  # not increasing
        elif what == 6:
            m.schema = -53
            m.custom_values.append(float("inf"))
        elif what == 7:
            m.negative_deltas.append(1)  # a bucket without a span
    return m


def _labels(i: int) -> dict[str, str]:
    return {"__name__": f"lat{i % 3}", "pod": f"p{i}"}


def _requests_v1(rng: random.Random, damage: float) -> list[bytes]:
    """A few 1.0 requests over the same series: histograms (several per series, sometimes out
    of order or repeated), float samples beside them, and damaged bytes now and then."""
    out = []
    t = NOW
    for _ in range(rng.randint(1, 4)):
        req = WriteRequest()
        for i in rng.sample(range(12), rng.randint(1, 12)):
            ts = req.timeseries.add()
            for k, v in sorted(_labels(i).items()):
                ts.labels.add(name=k, value=v)
            if i % 5 == 4:
                ts.samples.add(value=float(i), timestamp=t)
            if i % 7 == 6:
                ex = ts.exemplars.add(value=0.5, timestamp=t)
                ex.labels.add(name="trace_id", value="abc")
            for _ in range(rng.choice([1, 1, 2, 3])):
                t += rng.choice([1000, 1000, 0, -500])
                ts.histograms.append(_histogram(rng, t, rng.random() < damage))
        body = bytes(req.SerializeToString())
        if rng.random() < damage / 2:
            body = _mangle(rng, body)
        out.append(body)
        t += 15_000
    return out


def _requests_v2(rng: random.Random, damage: float) -> list[bytes]:
    """The same in 2.0: label references, created timestamps, raw histogram bytes that may
    be cut."""
    symbols = ["", "__name__", "pod", "lat0", "lat1", "lat2", *(f"p{i}" for i in range(12))]
    out = []
    t = NOW
    for _ in range(rng.randint(1, 4)):
        req = V2Request()
        req.symbols.extend(symbols)
        for i in rng.sample(range(12), rng.randint(1, 12)):
            ts = req.timeseries.add()
            ts.labels_refs.extend([1, 3 + i % 3, 2, 6 + i])
            if i % 5 == 4:
                ts.samples.add(value=float(i), timestamp=t)
            else:
                for _ in range(rng.choice([1, 1, 2, 3])):
                    t += rng.choice([1000, 1000, 0, -500])
                    raw = _histogram(rng, t, rng.random() < damage).SerializeToString()
                    if rng.random() < damage / 3:
                        raw = raw[: rng.randrange(len(raw) + 1)] + b"\xff"
                    ts.histograms.append(raw)
            if rng.random() < 0.3:
                ts.created_timestamp = t - rng.choice([60_000, -1000])
        body = bytes(req.SerializeToString())
        if rng.random() < damage / 3:
            body = _mangle(rng, body)
        out.append(body)
        t += 15_000
    return out


def _mangle(rng: random.Random, body: bytes) -> bytes:
    b = bytearray(body)
    if rng.random() < 0.5 and b:
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    else:
        del b[rng.randrange(len(b) + 1):]
    return bytes(b)


@contextlib.contextmanager
def _objects_only() -> Iterator[None]:
    """The receiver's object path: the columns decoder hands every request back."""
    with mock.patch.object(write_receiver, "decode_columns", lambda raws: None):
        yield


class _Side:
    """One store and receiver; ``send`` records each answer."""

    def __init__(self, path: Path, ooo_ms: int) -> None:
        self.db = TSDB.open(path, TSDBOptions(out_of_order_time_window_ms=ooo_ms))
        self.reg = CollectorRegistry()
        self.rx = WriteReceiver(self.db, self.reg)
        self.rx.ct_zero_ingestion = True
        self.answers: list[Any] = []
        self.path = path

    def send(self, body: bytes, v2: bool) -> None:
        try:
            got: Any = self.rx.ingest_v2(body) if v2 else self.rx.ingest(body)
        except (RemoteWriteError, write_receiver.StoreUnavailableError) as e:
            got = (type(e).__name__, str(e))
        self.answers.append(got)

    def stored(self) -> list[Any]:
        return stored_bits(self.db)

    def counters(self) -> dict[str, float]:
        return {s.name: s.value for m in self.reg.collect() for s in m.samples
                if not s.name.endswith("_created")}

    def wal(self) -> list[bytes]:
        return wal_bytes(self.path)


def test_a_request_histograms_are_found_in_series_then_field_order() -> None:
    """``decode_write_request`` walks histogram-only series all at once and the others
    (float samples beside, exemplars) one by one: together they give every histogram with
    its series' label bytes in request order, as the protobuf library reads them."""
    rng = random.Random(9)
    for _ in range(60):
        for body in _requests_v1(rng, damage=0.0):
            want = [(bytes(TimeSeries(labels=ts.labels).SerializeToString()),
                     bytes(h.SerializeToString()))
                    for ts in WriteRequest.FromString(body).timeseries for h in ts.histograms]
            assert decode_write_request(body, {}).histograms == want


def _refused(answer: Any) -> bool:
    return isinstance(answer, tuple) and isinstance(answer[0], str)


def _compare(tmp: Path, bodies: list[bytes], v2: bool, ooo_ms: int = 0) -> tuple[_Side, int]:
    cols, objs = _Side(tmp / "columns", ooo_ms), _Side(tmp / "objects", ooo_ms)
    taken = [0]
    real = histcolumns.decode_columns

    def spy(raws: Any) -> Any:
        got = real(raws)
        taken[0] += got is not None
        return got

    try:
        for body in bodies:
            with mock.patch.object(write_receiver, "decode_columns", spy):
                cols.send(body, v2)
            with _objects_only():
                objs.send(body, v2)
        assert cols.answers == objs.answers
        assert cols.counters() == objs.counters()
        assert cols.stored() == objs.stored()
        assert cols.wal() == objs.wal()
    finally:
        cols.db.close()
        objs.db.close()
    return cols, taken[0]


@pytest.mark.parametrize("ooo_ms", [0, 600_000], ids=["in-order", "ooo-window"])
@pytest.mark.parametrize("v2", [False, True], ids=["1.0", "2.0"])
def test_random_payloads_store_the_same_as_the_object_path(tmp_path: Path, v2: bool, ooo_ms: int) -> None:
    rng = random.Random(27)
    taken = stored = 0
    for case in range(40):
        bodies = (_requests_v2 if v2 else _requests_v1)(rng, damage=0.0)
        side, n = _compare(tmp_path / f"c{case}", bodies, v2, ooo_ms)
        taken += n
        stored += sum(not _refused(a) for a in side.answers)
    assert taken >= 40  # the columns path answered for most requests, not the fallback
    assert stored


@pytest.mark.parametrize("v2", [False, True], ids=["1.0", "2.0"])
def test_damaged_payloads_get_the_same_errors_and_store_the_same(tmp_path: Path, v2: bool) -> None:
    rng = random.Random(53)
    errors: set[str] = set()
    for case in range(60):
        bodies = (_requests_v2 if v2 else _requests_v1)(rng, damage=0.3)
        side, _ = _compare(tmp_path / f"c{case}", bodies, v2)
        errors |= {a[1].split(":")[0] for a in side.answers if _refused(a)}
    assert len(errors) >= 3  # several kinds of refusal were compared, not one


def _same_columns(a: HistCols, b: HistCols) -> None:
    assert a.lid.tolist() == b.lid.tolist() and a.row.tolist() == b.row.tolist()
    assert len(a.layouts) == len(b.layouts)
    for x, y in zip(a.layouts, b.layouts, strict=True):
        assert (x.schema, struct.pack("<d", x.zero_threshold), x.custom_values, x.pos, x.neg) == \
            (y.schema, struct.pack("<d", y.zero_threshold), y.custom_values, y.pos, y.neg)
        assert x.m.shape == y.m.shape and x.m.view(np.uint64).tolist() == y.m.view(np.uint64).tolist()
        assert x.hint.tolist() == y.hint.tolist() and x.keep is None and y.keep is None


def _columns_are_the_objects(raws: list[bytes]) -> bool:
    """``decode_columns`` of ``raws`` is what ``HistCols.from_objects`` makes of
    ``decode_histogram``'s objects, or None where that refuses one or where a delta is too
    large to sum here (handed back to the object path); True when columns were answered."""
    got = histcolumns.decode_columns(raws)
    try:
        decoded = [decode_histogram(r) for r in raws]
    except RemoteWriteError:
        assert got is None
        return False
    if got is None:  # handed back: only for deltas too large to sum here
        assert any(abs(d) > 2**40 for r in raws for m in [Histogram.FromString(r)]
                   for d in [*m.positive_deltas, *m.negative_deltas])
        return False
    assert got[0].tolist() == [t for t, _ in decoded]
    _same_columns(got[1], HistCols.from_objects([h for _, h in decoded]))
    return True


def test_columns_are_from_objects_of_the_decoded_histograms() -> None:
    """Straight from messages: the layouts, rows, matrices and hints ``HistCols.from_objects``
    makes of ``decode_histogram``'s objects, or None where the object path refuses one."""
    rng = random.Random(1)
    answered = 0
    for _ in range(300):
        raws = [_histogram(rng, NOW + k, rng.random() < 0.05).SerializeToString()
                for k in range(rng.randint(1, 30))]
        answered += _columns_are_the_objects(raws)
    assert answered >= 150


def test_a_damaged_message_is_handed_back(tmp_path: Path) -> None:
    good = _histogram(random.Random(2), NOW, False).SerializeToString()
    assert histcolumns.decode_columns([good]) is not None
    assert histcolumns.decode_columns([good, good[:-3] + b"\xff\xff"]) is None


def _shuffled(rng: random.Random, m: Any) -> bytes:
    """``m``'s bytes with its fields in a random order (a side's spans kept together):
    the same message to any protobuf reader."""
    parts = []
    for fd, value in m.ListFields():
        one = Histogram()
        if hasattr(value, "extend"):  # a repeated field
            getattr(one, fd.name).extend(value)
        else:
            setattr(one, fd.name, value)
        parts.append(one.SerializeToString())
    rng.shuffle(parts)
    return b"".join(parts)


_ODD = [b"\xa0\x01\x05", b"\x08\x03", b"\x60\x02", b"\x62\x01\x02", b"\x5a\x02\x10\x01", b"\x19\x00",
        b"\x82\x02\x00", b"\x70\xff\xff\xff\xff\x0f", b"\x20\x80\x80\x80\x80\x10"]


def test_the_numpy_reader_takes_what_upb_reads_the_same() -> None:
    """Batches of one kind (integer or float histograms), fields in any order, now and then
    an encoding the reader leaves to upb (an unknown field, a field twice, unpacked deltas, a
    span apart from its side's, a cut field, a hint past int32, a schema past 32 bits): the
    columns are still ``from_objects`` of the decoded objects, or None where those refuse."""
    rng = random.Random(11)
    by_wire = 0
    for _ in range(400):
        floats = rng.random() < 0.3
        raws = []
        for k in range(rng.randint(1, 25)):
            m = _histogram(rng, NOW + k, rng.random() < 0.03)
            if floats != bool(m.positive_counts or m.negative_counts or m.WhichOneof("count") == "count_float"
                              or m.WhichOneof("zero_count") == "zero_count_float"):
                continue
            raw = _shuffled(rng, m) if rng.random() < 0.5 else m.SerializeToString()
            if rng.random() < 0.03:
                raw += rng.choice(_ODD)
            raws.append(raw)
        if not raws:
            continue
        wire = histwire.read(raws)
        by_wire += wire is not None and histcolumns._from_wire(wire) is not None
        _columns_are_the_objects(raws)
    assert by_wire >= 150  # (a count past 2**53 in a batch sends it to upb: about half here)
