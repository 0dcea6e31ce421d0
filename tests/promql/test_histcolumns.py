"""The dense-column paths for native histograms (``promql/histcolumns``) give bit for bit what
the per-window Python path gives: ``rate``/``increase`` over series with counter resets (by
value and by hint), buckets that come and go, negative and zero buckets, custom buckets, gauge
hints, NaN counts, float samples among the histograms and mixed layouts (the last ones left to
the Python path, with their annotations); ``sum`` of many histograms as the one-by-one adds."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from guardia.model import Labels
from guardia.model.histogram import COUNTER_RESET, GAUGE, NOT_COUNTER_RESET, UNKNOWN, FloatHistogram
from guardia.promql import Engine, functions, histcolumns
from guardia.promql.histcolumns import sum_dense
from guardia.promql.nativehist import Notes, sum_histograms
from guardia.storage.memory import MemoryStorage

STEP = 15_000


def _series(rng: random.Random, kind: str, n: int) -> list[tuple[int, FloatHistogram | float]]:
    """``n`` samples of one series of a given ``kind``, 15 s apart."""
    out: list[tuple[int, FloatHistogram | float]] = []
    counts = {i: 0.0 for i in range(-2, 6)}
    neg = {-1: 0.0, 1: 0.0}
    zero = 0.0
    for k in range(n):
        t = k * STEP
        for i in counts:
            counts[i] += rng.choice([0, 1, 2, 0.5])
        for i in neg:
            neg[i] += rng.choice([0, 1])
        zero += rng.choice([0, 1])
        hint = UNKNOWN
        if kind == "resets" and k % 9 == 5:  # a reset by value
            counts = {i: c / 4 for i, c in counts.items()}
        if kind == "hints" and k % 7 == 3:
            hint = rng.choice([COUNTER_RESET, NOT_COUNTER_RESET])
        if kind == "gauge":
            hint = GAUGE
        pos = dict(counts)
        if kind == "sparse":  # buckets come and go (empty ones left out, as compact does)
            pos = {i: c for i, c in counts.items() if (i + k) % 3}
        if kind == "custom":
            h = FloatHistogram(schema=-53, count=sum(pos.values()), sum=1.5 * k,
                               custom_values=[0.1, 0.5, 1, 2, 5, 10, 20],
                               positive={i + 2: c for i, c in pos.items()}, counter_reset_hint=hint)
        else:
            h = FloatHistogram(schema=2, count=sum(pos.values()) + sum(neg.values()) + zero, sum=3.25 * k,
                               zero_threshold=0.001, zero_count=zero, positive=pos, negative=dict(neg),
                               counter_reset_hint=hint)
        if kind == "nan" and k == 4:
            h.positive[0] = math.nan
        if kind == "layouts" and k % 5 == 2:
            h = h.to_schema(1)
        if kind == "floats" and k % 6 == 4:
            out.append((t, float(k)))
            continue
        out.append((t, h))
    return out


KINDS = ["plain", "resets", "hints", "gauge", "sparse", "custom", "nan", "layouts", "floats"]


@pytest.fixture(scope="module")
def storage() -> MemoryStorage:
    rng = random.Random(27)
    st = MemoryStorage()
    app = st.appender()
    for kind in KINDS:
        for s in range(3):
            labels = Labels({"__name__": "h", "kind": kind, "s": str(s)})
            for t, x in _series(rng, kind, 40):
                if isinstance(x, FloatHistogram):
                    app.append_histogram(labels, t, x)
                else:
                    app.append(labels, t, x)
    app.commit()
    return st


@pytest.fixture
def python_path_only() -> Iterator[dict[str, bool]]:
    saved = dict(functions._COLUMNAR_RATE)
    yield saved
    functions._COLUMNAR_RATE.update(saved)


def _canon(h: FloatHistogram | None) -> object:
    """Every field of ``h`` exactly (floats by their bits, so NaN equals NaN), buckets in order."""
    if h is None:
        return None
    return (h.schema, h.count.hex(), h.sum.hex(), h.zero_threshold.hex(), h.zero_count.hex(),
            [(i, c.hex()) for i, c in h.positive.items()], [(i, c.hex()) for i, c in h.negative.items()],
            h.custom_values, h.counter_reset_hint)


def _answers(st: MemoryStorage, expr: str) -> tuple[list[object], list[str], list[str]]:
    res = Engine().range(st, expr, 60_000, 40 * STEP, 10_000)
    rows: list[object] = []
    for s in res.value:
        hs = [None] * len(s) if s.histograms is None else [_canon(h) for h in s.histograms]
        rows.append((s.labels, s.timestamps.tolist(), np.asarray(s.values).tobytes(), hs))
    return rows, sorted(res.warnings), sorted(res.infos)


@pytest.mark.parametrize("expr", [
    "rate(h[1m])", "increase(h[1m])", "rate(h[2m] offset 30s)", "increase(h[45s])", "rate(h[10m])",
    "sum by (kind) (rate(h[1m]))", "histogram_quantile(0.9, sum by (kind) (rate(h[2m])))",
])
def test_columns_give_what_the_python_path_gives(storage: MemoryStorage, python_path_only: dict[str, bool],
                                                 expr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    used = []
    real = histcolumns.rate_windows

    def counting(*args: Any, **kw: Any) -> Any:
        done, out = real(*args, **kw)
        used.append(int(done.sum()))
        return done, out

    monkeypatch.setattr(histcolumns, "rate_windows", counting)
    fast = _answers(storage, expr)
    assert sum(used) > 0  # the columns did windows (the others went the Python way)
    functions._COLUMNAR_RATE.clear()
    slow = _answers(storage, expr)
    assert fast[1:] == slow[1:]  # the same annotations (mixed kinds, gauges, layouts)
    assert len(fast[0]) == len(slow[0])
    for a, b in zip(fast[0], slow[0], strict=True):
        assert a == b  # labels, times, the float bits, every histogram field
    if "quantile" not in expr:
        assert any(h is not None for row in fast[0] for h in row[3])  # type: ignore[index]


def test_sum_of_one_layout_is_the_one_by_one_sum() -> None:
    rng = random.Random(5)
    for trial in range(30):
        hs = []
        for _ in range(rng.randint(8, 40)):
            pos = {i: rng.choice([0.0, 0.1, 1.0, 3.3, 1e-9, math.nan if trial == 7 else 2.0])
                   for i in rng.sample(range(-5, 15), rng.randint(0, 10))}
            hs.append(FloatHistogram(schema=3, count=sum(pos.values()) + 0.7, sum=rng.uniform(-5, 5),
                                     zero_threshold=0.01, zero_count=0.7, positive=pos,
                                     negative={-2: rng.choice([0.0, 0.3])},
                                     counter_reset_hint=rng.choice([UNKNOWN, GAUGE, NOT_COUNTER_RESET])))
        acc = hs[0].copy()
        for h in hs[1:]:
            acc, _ = acc.add(h)
        want = acc.compact()
        got = sum_dense(hs)
        assert got is not None
        assert _canon(got) == _canon(want)  # the same bits, the same bucket order (ascending)
        assert _canon(sum_histograms(hs, Notes(), "x")) == _canon(got)


def test_mixed_layouts_are_left_to_the_one_by_one_sum() -> None:
    a = FloatHistogram(schema=3, count=1, positive={1: 1.0})
    b = FloatHistogram(schema=2, count=1, positive={1: 1.0})
    assert sum_dense([a, b]) is None
    c = FloatHistogram(schema=-53, count=1, positive={0: 1.0}, custom_values=[1.0])
    notes = Notes()
    assert sum_histograms([a] * 8 + [c], notes, "x") is None
    assert notes.warnings  # mixing exponential and custom buckets: Prometheus's warning
