"""Native histograms kept as columns end to end (the TSDB's head and the PromQL engine's
``hcols``) answer bit for bit what the object path answers (``MemoryStorage``, a
``FloatHistogram`` per sample): counter resets by value and by hint, gauge hints, buckets
that come and go, negative buckets, NaN counts, schema changes inside a series, custom
buckets (-53) with changing bounds, float samples among the histograms and staleness, through
``append_histogram`` and through the batch ``append_histograms``, before and after a WAL
replay."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardia.model import STALE_NAN, Labels, Matcher
from guardia.model.histcols import HistCols
from guardia.model.histogram import COUNTER_RESET, GAUGE, NOT_COUNTER_RESET, UNKNOWN, FloatHistogram
from guardia.promql import Engine
from guardia.storage.interface import SeriesSet
from guardia.storage.memory import MemoryStorage
from guardia.storage.tsdb import TSDB

STEP = 15_000
N = 40
KINDS = ["plain", "resets", "hints", "gauge", "sparse", "custom", "custom_bounds", "nan", "negative",
         "layouts", "floats", "stale", "whole"]

Point = FloatHistogram | float


def _series(rng: random.Random, kind: str) -> list[tuple[int, Point]]:
    out: list[tuple[int, Point]] = []
    counts = {i: 0.0 for i in range(-2, 6)}
    neg = {-1: 0.0, 1: 0.0}
    zero = 0.0
    for k in range(N):
        t = k * STEP + rng.choice([0, 0, 0, 1, 999])  # scrapes a little late now and then
        for i in counts:
            counts[i] += rng.choice([0, 1, 2, 0.5] if kind != "whole" else [0, 1, 3])
        for i in neg:
            neg[i] += rng.choice([0, 1])
        zero += rng.choice([0, 1])
        hint = UNKNOWN
        if kind == "resets" and k % 9 == 5:
            counts = {i: c / 4 for i, c in counts.items()}
        if kind == "hints" and k % 7 == 3:
            hint = rng.choice([COUNTER_RESET, NOT_COUNTER_RESET])
        if kind == "gauge" or (kind == "plain" and k == 30):
            hint = GAUGE
        pos = dict(counts)
        if kind == "sparse":
            pos = {i: c for i, c in counts.items() if (i + k) % 3}
        if kind in ("custom", "custom_bounds"):
            bounds = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
            if kind == "custom_bounds" and k % 10 >= 6:
                bounds = [0.1, 1.0, 2.0, 10.0, 20.0, 50.0, 100.0]
            h = FloatHistogram(schema=-53, count=sum(pos.values()), sum=1.5 * k, custom_values=bounds,
                               positive={i + 2: c for i, c in pos.items()}, counter_reset_hint=hint)
        else:
            h = FloatHistogram(schema=2, count=sum(pos.values()) + sum(neg.values()) + zero, sum=3.25 * k,
                               zero_threshold=0.001, zero_count=zero, positive=pos, negative=dict(neg),
                               counter_reset_hint=hint)
        if kind == "nan" and k == 4:
            h.positive[0] = math.nan
        if kind == "negative" and k in (11, 12):
            h.positive[3] = -1.0
        if kind == "layouts" and k % 5 == 2:
            h = h.to_schema(1)
        if kind == "floats" and k % 6 == 4:
            out.append((t, float(k)))
            continue
        if kind == "stale" and k in (20, 31):
            out.append((t, STALE_NAN))
            continue
        out.append((t, h))
    return out


def _data() -> dict[Labels, list[tuple[int, Point]]]:
    rng = random.Random(2027)
    return {Labels({"__name__": "h", "kind": kind, "s": str(s)}): _series(rng, kind)
            for kind in KINDS for s in range(3)}


def _fill_objects(st: MemoryStorage | TSDB, data: dict[Labels, list[tuple[int, Point]]]) -> None:
    app = st.appender()
    for labels, pts in data.items():
        for t, x in pts:
            if isinstance(x, FloatHistogram):
                app.append_histogram(labels, t, x.copy())
            else:
                app.append(labels, t, x)
        app.commit()


def _fill_batches(db: TSDB, data: dict[Labels, list[tuple[int, Point]]]) -> None:
    """One ``append_histograms`` per scrape time: the histograms of every series at it (the
    first scrape one series at a time, so the store lists the series in the same order as
    the others: ``sum`` adds them in that order)."""
    app = db.appender()
    refs = {ls: app.ref(ls) for ls in data}
    app.commit()
    for k in range(N):
        app = db.appender()
        by_t: dict[int, tuple[list[int], list[FloatHistogram]]] = {}
        for labels, pts in data.items():
            t, x = pts[k]
            if isinstance(x, FloatHistogram) and k == 0:
                app.append_histograms(np.array([refs[labels]]), t, HistCols.from_objects([x.copy()]))
            elif isinstance(x, FloatHistogram):
                rs, hs = by_t.setdefault(t, ([], []))
                rs.append(refs[labels])
                hs.append(x.copy())
            else:
                app.append(refs[labels], t, x)
        for t, (rs, hs) in by_t.items():
            app.append_histograms(np.array(rs, dtype=np.int64), t, HistCols.from_objects(hs))
        app.commit()


def _canon(h: FloatHistogram | None) -> object:
    """Every field exactly (floats by their bits), buckets in index order."""
    if h is None:
        return None
    return (h.schema, h.count.hex(), h.sum.hex(), h.zero_threshold.hex(), h.zero_count.hex(),
            sorted((i, c.hex()) for i, c in h.positive.items()),
            sorted((i, c.hex()) for i, c in h.negative.items()),
            [c.hex() for c in h.custom_values], h.counter_reset_hint)


RANGE_EXPRS = [
    "rate(h[1m])", "increase(h[1m])", "rate(h[2m] offset 30s)", "increase(h[45s])", "rate(h[10m])",
    "sum by (kind) (rate(h[1m]))", "sum by (kind) (rate(h[5m]))", "avg by (kind) (rate(h[1m]))",
    "histogram_quantile(0.9, sum by (kind) (rate(h[2m])))",
    "histogram_quantile(0.99, sum by (kind) (rate(h[5m])))",
    "sum(rate(h{kind!~\"custom.*\"}[5m]))",
    "histogram_count(rate(h[1m]))", "delta(h[1m])", "irate(h[1m])", "resets(h[3m])", "changes(h[3m])",
    "sum_over_time(h[1m])", "last_over_time(h[1m])", "h", "sum by (kind) (h)", "h * 2", "rate(h[1m]) / 3",
    "histogram_fraction(0, 1, rate(h[2m]))",
]


def _range_answers(st: Any, expr: str) -> tuple[list[object], list[str], list[str]]:
    res = Engine().range(st, expr, 60_000, N * STEP, 10_000)
    rows: list[object] = []
    for s in res.value:
        hs = [None] * len(s) if s.histograms is None else [_canon(h) for h in s.histograms]
        rows.append((s.labels, s.timestamps.tolist(), np.asarray(s.values).tobytes(), hs))
    return rows, sorted(res.warnings), sorted(res.infos)


def _instant_answers(st: Any, expr: str, t: int) -> object:
    res = Engine().instant(st, expr, t)
    out: list[object] = []
    for s in res.value:
        if hasattr(s, "timestamps"):
            hs = [None] * len(s) if s.histograms is None else [_canon(h) for h in s.histograms]
            out.append((s.labels, s.timestamps.tolist(), np.asarray(s.values).tobytes(), hs))
        else:
            out.append((s.labels, s.t, np.float64(s.v).tobytes(), _canon(s.h)))
    return sorted(out, key=repr), sorted(res.warnings), sorted(res.infos)


class _AsObjects:
    """A store read through the object path: each select's histogram columns are made into
    ``FloatHistogram`` objects before the engine sees them (what every select gave before
    the columns), so the engine computes as it did then, in the same series order."""

    def __init__(self, db: TSDB) -> None:
        self.db = db

    def querier(self, mint: int, maxt: int) -> Any:
        q = self.db.querier(mint, maxt)
        real = q.select

        def select(*args: Any, **kw: Any) -> SeriesSet:
            found = real(*args, **kw)
            if found.hcols is not None:
                _ = found.histograms  # the objects, the columns dropped
                assert found.hcols is None
            return found

        q.select = select  # type: ignore[method-assign]
        return q


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = _data()
    mem = MemoryStorage()
    _fill_objects(mem, data)
    one = TSDB.open(tmp_path_factory.mktemp("objects"))
    _fill_objects(one, data)
    path = tmp_path_factory.mktemp("batches")
    batch = TSDB.open(path)
    _fill_batches(batch, data)
    batch.close()
    replayed = TSDB.open(path)  # the WAL written from columns, read back
    snap = tmp_path_factory.mktemp("snapshot")
    replayed.snapshot(snap)  # the head written as a block (runs made from the columns)
    blocks = TSDB.open(snap)
    return {"memory": mem, "tsdb_objects": one, "tsdb_batches": replayed, "as_objects": _AsObjects(one),
            "blocks": blocks, "blocks_as_objects": _AsObjects(blocks)}


@pytest.mark.parametrize("expr", RANGE_EXPRS)
def test_columns_answer_what_objects_answer(stores: dict[str, Any], expr: str) -> None:
    want = _range_answers(stores["as_objects"], expr)
    assert want[0]
    # the in-memory store lists series in another order: sums differ in the last bits there
    others = ("tsdb_objects", "tsdb_batches") if "sum" in expr or "avg" in expr else (
        "tsdb_objects", "tsdb_batches", "memory")
    for name in others:
        got = _range_answers(stores[name], expr)
        assert got[1:] == want[1:], name  # the same warnings and infos
        assert len(got[0]) == len(want[0]), name
        for a, b in zip(got[0], want[0], strict=True):
            assert a == b, name  # labels, times, the float bits, every histogram field


@pytest.mark.parametrize("expr", RANGE_EXPRS)
def test_columns_read_from_blocks_answer_what_objects_answer(stores: dict[str, Any], expr: str) -> None:
    """The same from the hour written as a block: its runs read as columns, against the same
    block read as objects (and the head, where the series order cannot matter)."""
    got = _range_answers(stores["blocks"], expr)
    for name in ("blocks_as_objects", *(() if "sum" in expr or "avg" in expr else ("as_objects",))):
        want = _range_answers(stores[name], expr)
        assert got[1:] == want[1:], name
        assert got[0] == want[0], name


@pytest.mark.parametrize("expr", ["h[2m]", "h", "rate(h[1m])", "h offset 1m"])
def test_instant_queries_and_raw_samples(stores: dict[str, Any], expr: str) -> None:
    for t in (0, 5 * STEP + 7, 21 * STEP, N * STEP):
        want = _instant_answers(stores["as_objects"], expr, t)
        for name in ("tsdb_objects", "tsdb_batches", "memory", "blocks"):
            assert _instant_answers(stores[name], expr, t) == want, (name, t)


def test_a_batch_refuses_what_single_appends_refuse(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path)
    app = db.appender()
    ls = [Labels({"__name__": "h", "i": str(i)}) for i in range(3)]
    refs = np.array([app.ref(x) for x in ls], dtype=np.int64)
    h = FloatHistogram(schema=0, count=2, sum=1.0, positive={0: 1.0, 1: 1.0})
    app.append_histograms(refs, 1000, HistCols.from_objects([h, h, h]))
    assert app.commit().appended == 3
    app = db.appender()
    other = FloatHistogram(schema=0, count=3, sum=1.0, positive={0: 2.0, 1: 1.0})
    stale = FloatHistogram(schema=0, count=3, sum=STALE_NAN, positive={0: 2.0, 1: 1.0})
    # the same again (taken as a duplicate of the newest), a different one at the same time, an
    # older one, and a staleness marker
    app.append_histograms(refs[:1], 1000, HistCols.from_objects([h]))
    app.append_histograms(refs[1:2], 1000, HistCols.from_objects([other]))
    app.append_histograms(refs[2:3], 500, HistCols.from_objects([other]))
    app.append_histograms(refs[:1], 2000, HistCols.from_objects([stale]))
    stats = app.commit()
    assert (stats.duplicate, stats.out_of_order, stats.appended) == (1, 1, 2)
    res = Engine().instant(db, "h", 2000)
    assert sorted(s.labels.get("i") for s in res.value) == ["1", "2"]  # h{i="0"} went stale
    db.close()
    with pytest.raises(ValueError, match="one histogram per ref"):
        TSDB.open(tmp_path).appender().append_histograms(refs, 3000, HistCols.from_objects([h]))


def test_a_batch_with_a_timestamp_per_histogram(tmp_path: Path) -> None:
    """Remote write's form: each position its own time (a series twice, a staleness marker
    among them), taken as single appends in the same order would be; a wrong count of
    timestamps is refused and appends nothing."""
    db = TSDB.open(tmp_path)
    app = db.appender()
    ls = [Labels({"__name__": "h", "i": str(i)}) for i in range(2)]
    refs = np.array([app.ref(x) for x in ls], dtype=np.int64)
    h = FloatHistogram(schema=0, count=2, sum=1.0, positive={0: 1.0, 1: 1.0})
    stale = FloatHistogram(schema=0, count=2, sum=STALE_NAN, positive={0: 1.0, 1: 1.0})
    with pytest.raises(ValueError, match="one timestamp per ref"):
        app.append_histograms(refs, np.array([1000]), HistCols.from_objects([h, h]))
    app.append_histograms(refs[[0, 1, 0, 1]], np.array([1000, 1000, 2000, 3000]),
                          HistCols.from_objects([h, h, h, stale]))
    assert app.commit().appended == 4
    q = db.querier(0, 10_000)
    try:
        got = {s.labels.get("i"): (s.timestamps.tolist(), s.values.view(np.uint64).tolist())
               for s in q.select([Matcher.equal("__name__", "h")])}
    finally:
        q.close()
    assert got["0"][0] == [1000, 2000] and got["1"][0] == [1000, 3000]
    assert got["1"][1][1] == np.float64(STALE_NAN).view(np.uint64)  # the float marker
    db.close()


def test_a_batch_built_by_hand_is_checked(tmp_path: Path) -> None:
    """Bad columns are refused with what is wrong and nothing is appended."""
    from guardia.model.histcols import Layout

    db = TSDB.open(tmp_path)
    app = db.appender()
    refs = np.array([app.ref(Labels({"__name__": "h", "i": str(i)})) for i in range(2)], dtype=np.int64)
    m = np.ones((2, 5))
    hint = np.zeros(2, dtype=np.int8)
    cases = [
        (Layout(0, 0.0, (), (3, 1), (), m, hint), "ascending order"),
        (Layout(0, 0.0, (), (1,), (), m, hint), "3 \\+ 1 \\+ 0 = 4 columns"),
        (Layout(0, 0.0, (), (1, 2), (), m, hint[:1]), "one hint per row"),
    ]
    for layout, why in cases:
        cols = HistCols(np.zeros(2, dtype=np.int32), np.arange(2, dtype=np.int64), [layout])
        with pytest.raises(ValueError, match=why):
            app.append_histograms(refs, 1000, cols)
    good = Layout(0, 0.0, (), (1, 2), (), m, hint)
    with pytest.raises(ValueError, match="not there"):
        app.append_histograms(refs, 1000, HistCols(np.zeros(2, dtype=np.int32), np.array([0, 5]), [good]))
    ok = HistCols(np.zeros(2, dtype=np.int32), np.arange(2, dtype=np.int64), [good])
    app.append_histograms(refs, 1000, ok)
    assert app.commit().appended == 2
    db.close()


def test_rate_and_sum_run_on_the_columns(stores: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The columns are what the engine computed ``rate`` and ``sum`` on."""
    from guardia.promql import histcolumns

    done: list[int] = []
    real = histcolumns.rate_columns

    def counting(*args: Any, **kw: Any) -> Any:
        got = real(*args, **kw)
        done.append(int(got[0].sum()))
        return got

    sums: list[int] = []
    real_sums = histcolumns.group_sums

    def counting_sums(*args: Any, **kw: Any) -> Any:
        got = real_sums(*args, **kw)
        sums.append(len(got))
        return got

    monkeypatch.setattr(histcolumns, "rate_columns", counting)
    monkeypatch.setattr(histcolumns, "group_sums", counting_sums)
    _range_answers(stores["tsdb_batches"], "sum by (kind) (rate(h[1m]))")
    assert done and done[0] > 100
    assert sums and sums[0] > 100
    done.clear()
    sums.clear()
    _range_answers(stores["as_objects"], "sum by (kind) (rate(h[1m]))")
    assert not done and not sums  # the object path does not reach them


def test_group_sums_add_in_series_order_as_the_objects_do() -> None:
    """``sum`` on the columns: one histogram after the other from the first, bit for bit the
    one-by-one ``add`` (and so ``sum_dense``), with NaN, -0.0 and buckets that some lack."""
    from guardia.promql import histcolumns
    from guardia.promql.nativehist import Notes, sum_histograms

    rng = random.Random(11)
    for trial in range(40):
        k, n = rng.randint(1, 30), rng.randint(1, 4)
        hm = np.array([[rng.random() < 0.8 for _ in range(n)] for _ in range(k)], dtype=bool)
        gidx = np.array([rng.randint(0, 2) for _ in range(k)], dtype=np.int64)
        objs = np.full((k, n), None, dtype=object)
        for r in range(k):
            for j in range(n):
                if hm[r, j]:
                    values = [0.0, -0.0, 0.1, 1.0, 3.3, 1e-300, math.nan if trial == 3 else 2.0]
                    pos = {i: rng.choice(values) for i in rng.sample(range(-3, 9), rng.randint(0, 6))}
                    hint = rng.choice([UNKNOWN, GAUGE, NOT_COUNTER_RESET])
                    total = rng.choice([-0.0, 1.7])
                    objs[r, j] = FloatHistogram(schema=3, count=rng.uniform(0, 9), sum=total,
                                                zero_threshold=0.01, zero_count=rng.random(), positive=pos,
                                                counter_reset_hint=hint)
        hc = HistCols.from_objects(objs.reshape(-1).tolist())
        hc = HistCols(hc.lid.reshape(k, n), hc.row.reshape(k, n), hc.layouts)
        got = histcolumns.group_sums(hc, hm, gidx, 3)
        for g in range(3):
            for j in range(n):
                hs = [objs[r, j] for r in range(k) if gidx[r] == g and hm[r, j]]
                if not hs:
                    assert (g, j) not in got
                    continue
                want = sum_histograms(hs, Notes(), "x")
                assert want is not None
                total, size = got[(g, j)]
                assert size == len(hs)
                assert _canon(total) == _canon(want), (trial, g, j)
