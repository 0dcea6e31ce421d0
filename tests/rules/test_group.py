"""Rule group evaluation: order, recording output, failures that do not stop the group."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry
from tests.rules.conftest import MIN, make_group, series

from guardia.model import Labels, is_stale_nan
from guardia.promql import Sample
from guardia.rules.query import RuleQueryError
from guardia.storage.memory import MemoryStorage


def _up(storage: MemoryStorage, n: int = 10, **values: float) -> None:
    for inst, v in values.items():
        storage.add_series(Labels({"__name__": "up", "job": "api", "instance": inst}),
                           [i * MIN for i in range(n)], [v] * n)


def test_recording_output_is_visible_to_the_next_rule_in_the_same_evaluation() -> None:
    storage = MemoryStorage()
    _up(storage, a=1, b=0)
    g = make_group("""
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {source: rule}
      - record: job:up:double
        expr: job:up:sum * 2
""", storage)
    g.eval(0)
    assert series(storage, "job:up:sum") == {
        Labels({"__name__": "job:up:sum", "job": "api", "source": "rule"}): [(0, 1.0)]}
    # Read in the same evaluation at the same timestamp.
    assert series(storage, "job:up:double") == {
        Labels({"__name__": "job:up:double", "job": "api", "source": "rule"}): [(0, 2.0)]}


def test_failing_rule_is_reported_and_the_next_rules_still_run() -> None:
    storage = MemoryStorage()
    _up(storage, a=1, b=0)
    reg = CollectorRegistry()
    g = make_group("""
groups:
  - name: g
    rules:
      - record: dup
        expr: up          # two series become the same once the name is replaced
        labels: {instance: same}
      - record: many_to_many
        expr: up + on() up
      - record: ok
        expr: count(up)
""", storage, registry=reg)
    g.eval(0)
    dup, m2m, ok = g.rules
    assert dup.health.health == "err"
    assert dup.health.last_error == (
        "vector contains metrics with the same labelset after applying rule labels")
    assert m2m.health.health == "err" and "many-to-many" in m2m.health.last_error
    assert ok.health.health == "ok"
    assert series(storage, "ok") == {Labels({"__name__": "ok"}): [(0, 2.0)]}
    assert reg.get_sample_value("prometheus_rule_evaluation_failures_total",
                                {"rule_group": "rules.yml;g"}) == 2
    assert reg.get_sample_value("prometheus_rule_evaluations_total",
                                {"rule_group": "rules.yml;g"}) == 3


def test_query_function_exception_does_not_stop_the_group() -> None:
    storage = MemoryStorage()

    def query(expr: str, t: int) -> list[Sample]:
        if expr == "boom":
            raise RuleQueryError("remote engine unreachable")
        return [Sample(Labels(), t, 1.0)]

    g = make_group("""
groups:
  - name: g
    rules:
      - alert: Boom
        expr: boom
      - record: fine
        expr: vector(1)
""", storage, query=query)
    g.eval(MIN)
    assert g.rules[0].health.last_error == "remote engine unreachable"
    assert g.rules[1].health.health == "ok"


def test_limit_fails_the_rule() -> None:
    storage = MemoryStorage()
    _up(storage, a=1, b=1, c=1)
    g = make_group("""
groups:
  - name: g
    limit: 2
    rules:
      - record: r
        expr: up
""", storage)
    g.eval(0)
    assert g.rules[0].health.last_error == "exceeded limit of 2 with 3 series"


def test_query_offset_evaluates_and_stamps_in_the_past() -> None:
    storage = MemoryStorage()
    storage.add_series(Labels({"__name__": "m"}), [0, MIN, 2 * MIN], [1, 2, 3])
    g = make_group("""
groups:
  - name: g
    query_offset: 1m
    rules:
      - record: r
        expr: m
""", storage)
    g.eval(2 * MIN)
    assert series(storage, "r") == {Labels({"__name__": "r"}): [(MIN, 2.0)]}


def test_series_that_disappear_get_staleness_markers() -> None:
    storage = MemoryStorage()
    storage.add_series(Labels({"__name__": "m", "i": "a"}), [0, MIN], [1, 1])
    storage.add_series(Labels({"__name__": "m", "i": "b"}), [0], [1])
    g = make_group("""
groups:
  - name: g
    rules:
      - record: r
        expr: m
""", storage, )
    g.eval(0)
    g.eval(6 * MIN)  # b is beyond the lookback now, a too
    g.eval(7 * MIN)
    pts = series(storage, "r")
    b = pts[Labels({"__name__": "r", "i": "b"})]
    assert b[0] == (0, 1.0) and b[1][0] == 6 * MIN and is_stale_nan(b[1][1])
    assert len(b) == 2  # one marker, not one per evaluation


async def test_group_slower_than_its_interval_skips_and_counts_missed_evaluations() -> None:
    storage = MemoryStorage()
    calls: list[int] = []

    def slow_query(expr: str, t: int) -> list[Sample]:
        calls.append(t)
        time.sleep(0.25)  # a 100ms interval: each evaluation overruns by more than one slot
        return [Sample(Labels(), t, 1.0)]

    reg = CollectorRegistry()
    g = make_group("""
groups:
  - name: slow
    interval: 100ms
    rules:
      - record: r
        expr: vector(1)
""", storage, query=slow_query, registry=reg)
    g.opts.run_in_thread = True
    stop = asyncio.Event()
    task = asyncio.create_task(g.run(stop))
    await asyncio.sleep(1.3)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    key = {"rule_group": "rules.yml;slow"}
    missed = reg.get_sample_value("prometheus_rule_group_iterations_missed_total", key)
    scheduled = reg.get_sample_value("prometheus_rule_group_iterations_total", key)
    assert missed is not None and missed >= 2
    assert scheduled is not None and scheduled >= len(calls) + missed - 1
    # Never piled up: evaluations ran one after another at increasing slots, at most ~5.
    assert 2 <= len(calls) <= 6
    assert calls == sorted(set(calls))
    assert g.missed == missed


def test_recording_rule_writes_native_histograms() -> None:
    from guardia.model import Matcher
    from guardia.model.histogram import FloatHistogram

    storage = MemoryStorage()
    app = storage.appender()
    for pod in ("a", "b"):
        for i in range(6):
            app.append_histogram(Labels({"__name__": "rpc_seconds", "pod": pod}), i * MIN,
                                 FloatHistogram(count=float(i), sum=float(i), positive={1: float(i)}))
    app.commit()
    g = make_group("""
groups:
  - name: g
    rules:
      - record: job:rpc_seconds:rate1m
        expr: sum(rate(rpc_seconds[2m]))
      - record: job:rpc_seconds:p50
        expr: histogram_quantile(0.5, job:rpc_seconds:rate1m)
""", storage)
    g.eval(5 * MIN)
    (s,) = storage.querier(0, 10 * MIN).select([Matcher.equal("__name__", "job:rpc_seconds:rate1m")])
    assert s.histograms is not None
    h = s.histograms[0]
    assert h.count == h.positive[1] == 2 / 60  # two series, one observation a minute each
    # the next rule reads the histogram the first one wrote
    assert series(storage, "job:rpc_seconds:p50") == {
        Labels({"__name__": "job:rpc_seconds:p50"}): [(5 * MIN, 2 ** 0.5)]}
