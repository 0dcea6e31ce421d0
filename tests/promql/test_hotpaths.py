"""The per-series shortcuts of the hot query shape (``sum by (x) (rate(m[5m]))``) give what
the plain definitions give, including the shapes the shortcuts do not cover."""

from __future__ import annotations

import numpy as np
import pytest

from guardia.model import Labels
from guardia.promql import Engine, PromQLError, plan, rangefuncs, windows
from guardia.promql.aggregations import _groups, label_values
from guardia.promql.context import EvalContext
from guardia.promql.dedupe import drop_name, merge_duplicates
from guardia.promql.selectors import windowed
from guardia.promql.values import Vector
from guardia.storage.interface import Series, SeriesSet
from guardia.storage.memory import MemoryStorage


def _mixed_labels() -> list[Labels]:
    """Label sets whose name positions differ (``A`` sorts before ``__name__``)."""
    return [
        Labels.of(__name__="m", job="a", code="200"),
        Labels.of(__name__="m", job="b"),
        Labels.of(A="x", __name__="m", code="500", job="a"),
        Labels.of(code="404"),
        Labels(),
        Labels.of(__name__="n", code="200", job="a", zone="z"),
    ]


def test_drop_name_equals_filtering_every_pair() -> None:
    ls = _mixed_labels()
    expected = [Labels([p for p in x if p[0] != "__name__"]) for x in ls]
    got = drop_name(ls)
    assert got == expected
    assert all(type(x) is Labels for x in got)


def test_label_values_follow_each_set_not_the_previous_position() -> None:
    ls = _mixed_labels()
    for name in ("code", "job", "zone", "A", "missing"):
        assert label_values(ls, name) == [x.get(name) for x in ls]


def test_groups_by_labels_in_first_seen_order() -> None:
    ls = _mixed_labels()
    vec = Vector(ls, np.zeros((len(ls), 1)), np.ones((len(ls), 1), dtype=bool))
    node = plan.Aggregate("sum", plan.NumberLiteral(1), grouping=("job", "code"), has_grouping=True)
    keys, gidx = _groups(vec, node)
    want = [x.only("code", "job") for x in ls]
    assert [keys[i] for i in gidx] == want
    assert keys == list(dict.fromkeys(want))
    empty = plan.Aggregate("sum", plan.NumberLiteral(1))
    keys, gidx = _groups(vec, empty)
    assert keys == [Labels()] and gidx.tolist() == [0] * len(ls)


def test_merge_duplicates_only_merges_real_collisions() -> None:
    ls = [Labels.of(a="1"), Labels.of(a="2")]
    vec = Vector(ls, np.ones((2, 3)), np.ones((2, 3), dtype=bool))
    assert merge_duplicates(vec) is vec
    pres = np.array([[True, False], [False, True]])
    clash = Vector([ls[0], ls[0]], np.array([[1.0, 0.0], [0.0, 2.0]]), pres)
    merged = merge_duplicates(clash)
    assert merged.labels == [ls[0]] and merged.values.tolist() == [[1.0, 2.0]]


def _rate_reference(t: np.ndarray, v: np.ndarray, end: int, range_ms: int, is_counter: bool) -> float | None:
    """Prometheus's extrapolatedRate for one window, written out sample by sample."""
    w = (t > end - range_ms) & (t <= end)
    tw, vw = t[w], v[w]
    if len(tw) < 2:
        return None
    result = float(vw[-1] - vw[0])
    if is_counter:
        result += sum(float(vw[i - 1]) for i in range(1, len(vw)) if vw[i] < vw[i - 1])
    sampled = float(tw[-1] - tw[0]) * 1e-3
    dstart = float(tw[0] - (end - range_ms)) * 1e-3
    dend = float(end - tw[-1]) * 1e-3
    avg = sampled / (len(tw) - 1)
    if dstart >= avg * 1.1:
        dstart = avg / 2
    if is_counter and result > 0 and vw[0] >= 0:
        to_zero = sampled * (float(vw[0]) / result)
        dstart = min(dstart, to_zero)
    if dend >= avg * 1.1:
        dend = avg / 2
    return result * (sampled + dstart + dend) / sampled


@pytest.mark.parametrize("block_cells", [1 << 16, 100, 1])
def test_extrapolated_rate_matches_the_per_window_definition(
    block_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(windows, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(11)
    series = []
    for j in range(12):
        t = np.unique(rng.integers(0, 3_600_000, size=rng.integers(0, 80))).astype(np.int64)
        v = np.cumsum(rng.uniform(0, 10, len(t)))
        if j % 3 == 0 and len(v) > 4:
            v[len(v) // 2 :] -= v[len(v) // 2] - 1.0  # a counter reset
        series.append(Series(Labels.of(i=str(j)), t, v))
    et = np.arange(0, 3_700_000, 60_000, dtype=np.int64)
    ctx = EvalContext(MemoryStorage(), 0, 0, 0, 300_000, 10**9, float("inf"), None)
    rv = windowed(ctx, SeriesSet.of(series), et, 300_000, et)
    for counter in (True, False):
        res, ok = rangefuncs.extrapolated_rate(rv, counter, False)
        for j, s in enumerate(series):
            for i, end in enumerate(et.tolist()):
                want = _rate_reference(s.timestamps, s.values, end, 300_000, counter)
                assert bool(ok[j, i]) == (want is not None)
                if want is not None:
                    assert np.isclose(res[j, i], want, rtol=1e-12, atol=0)
    rate, ok = rangefuncs.extrapolated_rate(rv, True, True)
    increase, _ = rangefuncs.extrapolated_rate(rv, True, False)
    np.testing.assert_allclose(rate[ok], increase[ok] / 300.0, rtol=1e-12)


def test_rate_with_fixed_name_still_reports_non_counter() -> None:
    s = MemoryStorage()
    for i in range(3):
        s.add_series(Labels.of(__name__="temperature", i=str(i)), [0, 15_000, 30_000], [1.0, 2.0, 3.0])
    res = Engine().instant(s, "sum(rate(temperature[1m]))", 30_000)
    assert len(res.infos) == 1 and "temperature" in res.infos[0]
    res = Engine().instant(s, 'sum(rate({__name__="temperature"}[1m]))', 30_000)
    assert len(res.infos) == 1


def test_grouped_sums_are_exact_enough_for_every_group_shape() -> None:
    import math

    from guardia.promql.kahan import grouped_sum

    rng = np.random.default_rng(5)
    k, n = 600, 7
    for vals in (rng.uniform(0, 5, (k, n)), rng.normal(0, 1, (k, n)) * 10.0 ** rng.integers(-8, 8, (k, n))):
        vals[3, 2] = np.nan
        pres = rng.uniform(size=(k, n)) > 0.1
        for gidx in (np.zeros(k, dtype=np.intp), np.tile(np.arange(4), k // 4), np.repeat(np.arange(200), 3)):
            g = int(gidx.max()) + 1
            got = grouped_sum(vals, pres, gidx, g)
            for gg in range(0, g, max(g // 5, 1)):
                for c in range(n):
                    terms = vals[(gidx == gg) & pres[:, c], c]
                    if np.isnan(terms).any():
                        assert np.isnan(got[gg, c])
                        continue
                    want = math.fsum(terms.tolist())
                    # Relative to the result, not to the magnitudes: cancellation is compensated.
                    assert abs(got[gg, c] - want) <= 1e-9 * abs(want) + 1e-14 * np.abs(terms).sum()


def test_aggregation_over_rate_of_one_metric_name_drops_it_from_groups() -> None:
    s = MemoryStorage()
    for i in range(4):
        for name in ("a_total", "b_total"):
            ls = Labels.of(__name__=name, i=str(i), job=f"j{i % 2}")
            s.add_series(ls, [0, 15_000, 30_000], [0.0, 3.0, 6.0 * (i + 1)])
    e = Engine()
    res = e.instant(s, "sum without (i) (rate(a_total[1m]))", 30_000)
    assert [x.labels for x in res.value] == [Labels.of(job="j0"), Labels.of(job="j1")]
    by_job = e.instant(s, "sum by (job) (rate(a_total[1m]))", 30_000)
    assert [(x.labels, x.v) for x in by_job.value] == [(x.labels, x.v) for x in res.value]
    kept = e.instant(s, "sum by (__name__) (rate(a_total[1m]))", 30_000)
    assert [x.labels for x in kept.value] == [Labels()]
    # Two names: dropping them makes series collide, which stays an error.
    with pytest.raises(PromQLError, match="same labelset"):
        e.instant(s, 'sum(rate({__name__=~"a_total|b_total"}[1m]))', 30_000)


@pytest.mark.parametrize("chunk_cells", [1, 64, 1 << 40])
def test_grouped_sum_in_chunks_of_groups_bit_for_bit(chunk_cells: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are put in group order (absent points made 0, or left as they are when they
    hold +0.0 already) a chunk of whole groups at a time: the sums are those of one
    zero-masked, reordered copy of the whole input, to the bit, for every chunk size,
    group shape, big (pairwise) and small groups, cancelling terms, NaN and -0.0."""
    from guardia.promql import kahan
    from guardia.promql.aggregations import _present_counts
    from guardia.promql.kahan import grouped_sum

    rng = np.random.default_rng(8)
    k, n = 300, 9
    vals = rng.normal(0, 1, (k, n)) * 10.0 ** rng.integers(-3, 3, (k, n))
    vals[5, 3] = -vals[6, 3] * (1 + 1e-15)  # cancellation: compensated sums
    vals[7, 1] = np.nan
    partly = rng.uniform(size=(k, n)) > 0.2
    zeroed = np.where(partly, vals, 0.0)  # absent points +0.0, as the engine leaves them
    odd = zeroed.copy()
    odd[~partly] = -0.0
    filling = np.ones((k, n), dtype=bool)  # a rate's first steps, before its windows fill
    filling[:, :2] = False
    filling[::3, 2] = False
    for pres, v in ((np.ones((k, n), dtype=bool), vals), (np.ones((k, n), dtype=bool), np.abs(vals)),
                    (partly, vals), (partly, zeroed), (partly, odd), (filling, np.where(filling, vals, 0.0))):
        shapes = (np.zeros(k, dtype=np.intp), np.repeat(np.arange(6), k // 6), np.tile(np.arange(7), k)[:k],
                  np.repeat(np.arange(100), 3)[rng.permutation(k)])
        for gidx in shapes:
            g = int(gidx.max()) + 1
            monkeypatch.setattr(kahan, "_CHUNK_CELLS", 1 << 40)
            want = grouped_sum(np.where(pres, v, 0.0), np.ones((k, n), dtype=bool), gidx, g)
            monkeypatch.setattr(kahan, "_CHUNK_CELLS", chunk_cells)
            got = grouped_sum(v, pres, gidx, g)
            np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
            order = np.argsort(gidx, kind="stable")
            counts = _present_counts(pres, gidx, g, order)
            np.testing.assert_array_equal(counts, [pres[gidx == i].sum(axis=0) for i in range(g)])
