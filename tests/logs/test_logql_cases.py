"""LogQL answers against expectations written from Loki's documentation (logql_cases.yml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from guardia.logs import LogStore, PushStream
from guardia.logs.errors import QueryError
from guardia.logs.logql import LogQLEngine, MatrixResult, ScalarResult, StreamsResult
from guardia.model import Labels

DATA = yaml.safe_load((Path(__file__).parent / "logql_cases.yml").read_text())
NS = 1_000_000_000
BASE = DATA["base"] * NS


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> LogQLEngine:
    store = LogStore(tmp_path_factory.mktemp("logql"))
    for st in DATA["streams"]:
        store.push(
            [
                PushStream(
                    Labels(st["labels"]),
                    [BASE + t * NS for t, _ in st["lines"]],
                    [line.encode() for _, line in st["lines"]],
                )
            ]
        )
    # half the data in closed chunks, the rest in heads: both paths answer
    store.flush()
    store.push([PushStream(Labels({"job": "late"}), [BASE + 50 * NS], [b"x"])])
    return LogQLEngine(store)


def _norm(labels: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items()}


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["query"][:70] for c in DATA["cases"]])
def test_logql_case(engine: LogQLEngine, case: dict[str, Any]) -> None:
    q = case["query"]
    if "error" in case:
        with pytest.raises(QueryError, match=None) as info:
            if "time" in case:
                engine.query_instant(q, BASE + case["time"] * NS)
            else:
                engine.query_range(q, BASE, BASE + 60 * NS, NS, 1000, "forward")
        assert case["error"] in str(info.value)
        return
    if "streams" in case:
        res = engine.query_range(q, BASE, BASE + 60 * NS, NS, 1000, "forward")
        assert isinstance(res, StreamsResult)
        got = {tuple(sorted(labels.items())): values for labels, values in res.streams}
        want: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
        for s in case["streams"]:
            labels = _norm(s["labels"])
            key = tuple(sorted(labels.items()))
            if "text" in s:
                want[key] = [(-1, t) for t in s["text"]]
            else:
                src = _stream_lines(_norm(s.get("source", s["labels"])))
                want[key] = [(BASE + t * NS, src[t]) for t in s["lines"]]
        assert set(got) == set(want), f"streams differ: got {sorted(got)}"
        for key, values in want.items():
            if values and values[0][0] == -1:
                assert [line for _, line in got[key]] == [line for _, line in values]
            else:
                assert got[key] == values
        return
    if "range" in case:
        r = case["range"]
        res = engine.query_range(q, BASE + r["start"] * NS, BASE + r["end"] * NS, r["step"] * NS)
        assert isinstance(res, MatrixResult)
        got_m = {
            tuple(sorted(lb)): [
                (int((t - BASE) // NS), v)
                for t, v in zip(res.steps.tolist(), row.tolist(), strict=True)
                if v == v
            ]
            for lb, row in zip(res.labels, res.values, strict=True)
        }
        want_m = {
            tuple(sorted(_norm(s["labels"]).items())): [tuple(p) for p in s["values"]] for s in case["matrix"]
        }
        assert got_m == want_m
        return
    res = engine.query_instant(q, BASE + case["time"] * NS)
    if "scalar" in case:
        assert isinstance(res, ScalarResult)
        assert res.value == pytest.approx(case["scalar"])
        return
    assert isinstance(res, MatrixResult)
    got_v = [
        (dict(lb), float(row[0])) for lb, row in zip(res.labels, res.values, strict=True) if row[0] == row[0]
    ]
    want_v = [(_norm(v["labels"]), float(v["value"])) for v in case["vector"]]
    if case.get("ordered"):
        assert got_v == pytest.approx(want_v) if False else [g[0] for g in got_v] == [w[0] for w in want_v]
        assert [g[1] for g in got_v] == pytest.approx([w[1] for w in want_v])
    else:
        key = lambda p: sorted(p[0].items())  # noqa: E731
        got_s, want_s = sorted(got_v, key=key), sorted(want_v, key=key)
        assert [g[0] for g in got_s] == [w[0] for w in want_s]
        assert [g[1] for g in got_s] == pytest.approx([w[1] for w in want_s])


def _stream_lines(labels: dict[str, str]) -> dict[int, str]:
    """The fixture lines of the stream named by ``source`` (or by the expected labels): the one
    agreeing on every label both have, with the largest overlap."""
    best: tuple[int, dict[int, str]] | None = None
    for st in DATA["streams"]:
        sl = _norm(st["labels"])
        common = set(sl) & set(labels)
        if common and all(sl[k] == labels[k] for k in common) and (best is None or len(common) > best[0]):
            best = (len(common), {t: line for t, line in st["lines"]})
    if best is None:
        raise AssertionError(f"no fixture stream for {labels}: give the case a source")
    return best[1]
