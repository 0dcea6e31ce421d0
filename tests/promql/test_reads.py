"""One querier per query: its range covers every selector's reads, worked out from the plan.

Every conformance script is run with a store that records each querier a query opens and
each select's hints: a query opens at most one querier and no select asks for time outside
it.  A select outside would be clamped by the store and lose data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from guardia.model import Labels, Matcher
from guardia.promql import Engine
from guardia.promql.scripttest import ScriptRunner
from guardia.storage.interface import Querier, Queryable, SelectHints, SeriesSet
from guardia.storage.memory import MemoryStorage

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("GUARDIA_CONFORMANCE_DIR", REPO / ".." / "shared" / "conformance" / "promql")
)
FILES = sorted(CONFORMANCE.glob("*.test"))


class _Watched(Querier):
    def __init__(self, inner: Querier, log: list[str], expr: str) -> None:
        self.inner, self.mint, self.maxt, self.log, self.expr = inner, inner.mint, inner.maxt, log, expr

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *, sort: bool = False
    ) -> SeriesSet:
        if hints is None or hints.start < self.mint or hints.end > self.maxt:
            self.log.append(f"{self.expr}: select {hints} outside the querier's [{self.mint}, {self.maxt}]")
        return self.inner.select(matchers, hints, sort=sort)

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self.inner.label_names(matchers)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self.inner.label_values(name, matchers)

    def close(self) -> None:
        self.inner.close()


class _Watch:
    def __init__(self, inner: Queryable, log: list[str], expr: str) -> None:
        self.inner, self.log, self.expr, self.opened = inner, log, expr, 0

    def querier(self, mint: int, maxt: int) -> Querier:
        self.opened += 1
        if self.opened > 1:
            self.log.append(f"{self.expr}: querier #{self.opened}")
        return _Watched(self.inner.querier(mint, maxt), self.log, self.expr)


class _WatchingEngine(Engine):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def instant(self, storage: Queryable, expr: str, t_ms: int, **kw: Any) -> Any:
        return super().instant(_Watch(storage, self.log, expr), expr, t_ms, **kw)

    def range(
        self, storage: Queryable, expr: str, start_ms: int, end_ms: int, step_ms: int, **kw: Any
    ) -> Any:
        return super().range(_Watch(storage, self.log, expr), expr, start_ms, end_ms, step_ms, **kw)


@pytest.mark.skipif(not FILES, reason=f"no conformance scripts in {CONFORMANCE}")
def test_every_conformance_query_reads_through_one_querier_that_covers_it() -> None:
    engine = _WatchingEngine()
    runner = ScriptRunner(engine)
    for path in FILES:
        runner.run_file(path)
    assert engine.log == []


def test_offsets_at_and_nested_subqueries_stay_inside_the_querier() -> None:
    store = MemoryStorage()
    store.add_series(Labels.of(__name__="m"), list(range(0, 7_200_000, 15_000)), [1.0] * 480)
    engine = _WatchingEngine()
    for expr in (
        "m offset 30m",
        "rate(m[5m] @ 3000)",
        "max_over_time(rate(m[5m])[20m:1m] offset 10m)",
        "min_over_time(max_over_time(m[3m] offset -2m)[30m:])[1h:5m]",
        "m @ start() - m @ end() offset 1h",
        "sum(timestamp(m offset 1m)) + absent_over_time(n[1m])",
    ):
        if "[1h:5m]" in expr:
            engine.instant(store, expr, 7_000_000)
        else:
            engine.range(store, expr, 3_600_000, 7_000_000, 60_000)
    assert engine.log == []
