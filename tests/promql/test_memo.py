"""A view's queries share subexpression results through a ``Memo``: each of Prometheus's
test scripts gives the same answers with one (each query evaluated twice with the same
memo, the second answered from it), queries that repeat a subexpression evaluate it once,
and what depends on the query (its range, its text in annotations) keeps results apart."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardia.promql import Engine, EngineOptions, Memo
from guardia.promql.scripttest import ScriptRunner, parse_labels
from guardia.storage.interface import Queryable
from guardia.storage.memory import MemoryStorage

from .test_conformance import FILES, PARAMS, _known


def _rows(res: Any) -> list[tuple[Any, ...]]:
    if res.type == "string":
        return [res.value]
    if res.type == "scalar":
        return [(res.value[0], np.float64(res.value[1]).view(np.uint64).item())]
    if res.type == "vector":
        return [(s.labels, s.t, np.float64(s.v).view(np.uint64).item()) for s in res.value]
    return [(s.labels, s.timestamps.tolist(), s.values.view(np.uint64).tolist()) for s in res.value]


class _TwiceWithMemo(Engine):
    """Each query twice with one fresh memo: the first run fills it (every kept result is
    read-only before its consumer sees it, so an in-place write fails), the second is
    answered from it and must agree, annotations included."""

    def instant(self, storage: Queryable, expr: str, t_ms: int, **kw: Any) -> Any:
        memo = Memo()
        first = super().instant(storage, expr, t_ms, memo=memo, **kw)
        again = super().instant(storage, expr, t_ms, memo=memo, **kw)
        self._agree(first, again, memo)
        return first

    def range(self, storage: Queryable, expr: str, start_ms: int, end_ms: int, step_ms: int,
              **kw: Any) -> Any:
        memo = Memo()
        first = super().range(storage, expr, start_ms, end_ms, step_ms, memo=memo, **kw)
        again = super().range(storage, expr, start_ms, end_ms, step_ms, memo=memo, **kw)
        self._agree(first, again, memo)
        return first

    @staticmethod
    def _agree(first: Any, again: Any, memo: Memo) -> None:
        if _rows(first) != _rows(again) or (first.warnings, first.infos) != (again.warnings, again.infos):
            raise AssertionError("a memoised evaluation differs from the first")
        kept = any(e.found is not None for e in memo._entries.values())
        if kept and not memo.hits:  # (scalar results are not kept: they cost nothing)
            raise AssertionError("the second evaluation was not answered from the memo")


@pytest.mark.parametrize("path", PARAMS)
def test_conformance_scripts_pass_with_a_memo(path: Path) -> None:
    report = ScriptRunner(_TwiceWithMemo(EngineOptions(timeout_s=60.0))).run_file(path)
    known = {k for k in _known() if k.split(":")[0] == path.name}
    failed = {f"{path.name}:{f.line}": f"{f.query}\n{f.diff}" for f in report.failures}
    new = [f"{k}: {v}" for k, v in failed.items() if k not in known]
    assert not new, "\n".join(new)
    assert report.passed > 0


def test_the_conformance_scripts_are_there() -> None:
    assert FILES or PARAMS[0].id == "absent"


def _store() -> MemoryStorage:
    st = MemoryStorage()
    ts = list(range(0, 3_600_000, 15_000))
    for code in ("200", "500"):
        for h in ("/a", "/b"):
            st.add_series(parse_labels(f'http_requests_total{{code="{code}", handler="{h}"}}'), ts,
                          [float(i * (3 if code == "200" else 1)) for i in range(len(ts))])
    st.add_series(parse_labels('g{le="x"}'), ts, [1.0] * len(ts))
    return st


RATE = 'rate(http_requests_total{code="500"}[5m])'


def test_a_repeated_subexpression_is_evaluated_once_per_view() -> None:
    st, eng = _store(), Engine()
    queries = [f"sum by (handler) ({RATE})",
               f"sum by (handler) ({RATE}) / sum by (handler) (rate(http_requests_total[5m]))",
               f"topk(1, sum by (handler) ({RATE}))", RATE]
    memo = Memo()
    for q in queries:
        want = eng.range(st, q, 600_000, 3_000_000, 60_000)
        got = eng.range(st, q, 600_000, 3_000_000, 60_000, memo=memo)
        assert _rows(got) == _rows(want), q
    # the sum of the first query is reused by the second and third; the plain rate of the
    # fourth is not the rate under an aggregation (which may keep __name__)
    assert memo.hits == 2
    # a plain rate keeps no __name__, whatever an aggregation above it allowed
    plain = eng.range(st, RATE, 0, 600_000, 60_000, memo=memo).value
    assert plain and all("__name__" not in dict(s.labels) for s in plain)


def test_another_range_or_step_is_not_a_hit() -> None:
    st, eng, memo = _store(), Engine(), Memo()
    a = eng.range(st, f"sum({RATE}) * step()", 600_000, 1_200_000, 60_000, memo=memo)
    b = eng.range(st, f"sum({RATE}) * step()", 600_000, 1_200_000, 120_000, memo=memo)
    at_end = 'sum(rate(http_requests_total{code="500"}[5m] @ end()))'
    c = eng.range(st, at_end, 600_000, 1_800_000, 60_000, memo=memo)
    d = eng.range(st, at_end, 600_000, 1_200_000, 60_000, memo=memo)
    assert memo.hits == 0
    assert _rows(a) == _rows(eng.range(st, f"sum({RATE}) * step()", 600_000, 1_200_000, 60_000))
    assert _rows(b) == _rows(eng.range(st, f"sum({RATE}) * step()", 600_000, 1_200_000, 120_000))
    assert _rows(c) != _rows(d)
    assert _rows(d) == _rows(eng.range(st, at_end, 600_000, 1_200_000, 60_000))


def test_annotations_quote_each_query_at_its_own_position() -> None:
    st, eng, memo = _store(), Engine(), Memo()
    # a bucket whose le is not a number warns, quoting where the selector sits in the query
    q1 = "histogram_quantile(0.9, g)"
    q2 = "1 + histogram_quantile(0.9, g)"
    for q in (q1, q2, q1):
        assert eng.instant(st, q, 600_000, memo=memo).warnings == eng.instant(st, q, 600_000).warnings, q
    assert eng.instant(st, q1, 600_000).warnings  # the case does warn


def test_results_in_the_memo_are_read_only() -> None:
    st, eng, memo = _store(), Engine(), Memo()
    eng.range(st, f"sum({RATE})", 0, 600_000, 60_000, memo=memo)
    found = [e.found for e in memo._entries.values() if e.found is not None]
    assert found and all(not f.value.values.flags.writeable for f in found)


def test_the_memo_is_bounded_and_drops_the_least_recently_used() -> None:
    st, eng, memo = _store(), Engine(), Memo(max_cells=40)
    for q in ("sum(http_requests_total)", "max(http_requests_total)", "min(http_requests_total)"):
        eng.range(st, q, 0, 600_000, 60_000, memo=memo)  # 11 steps: each selector holds 44 cells
    assert sum(memo._cells.values()) <= 40
    eng.range(st, "min(http_requests_total)", 0, 600_000, 60_000, memo=memo)
    assert memo.hits == 1  # the newest result stayed


def test_queries_of_a_view_on_several_threads_share_one_evaluation() -> None:
    st, memo = _store(), Memo()
    eng = Engine()
    out: list[Any] = []
    started = threading.Barrier(4)

    def run() -> None:
        started.wait()
        out.append(_rows(eng.range(st, f"sum by (handler) ({RATE})", 0, 3_000_000, 15_000, memo=memo)))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 4 and all(o == out[0] for o in out)
    assert memo.misses == 2 and memo.hits == 3  # the sum and its rate once; three sums reused
