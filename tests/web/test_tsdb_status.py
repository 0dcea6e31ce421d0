"""/api/v1/status/tsdb from the embedded store's index, checked by brute force and against
Prometheus 2.42 scraping the same target."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from guardia.model import Labels
from guardia.promql import Engine
from guardia.scrape.manager import ScrapeManager
from guardia.storage.tsdb import TSDB
from guardia.web import AppDeps, create_app
from guardia.web.adapters import IndexStatus
from guardia.web.api_v1 import ApiDeps
from tests.scrape.helpers import config, wait_for
from tests.scrape.peers import client_app, prometheus, prometheus_get

T0 = 1_700_000_000_000


def _series() -> list[Labels]:
    out = []
    for i in range(60):
        out.append(Labels.of(__name__="http_requests_total", job="api", instance=f"h{i % 6}",
                             code=str(200 + i % 5 * 100), route=f"/r{i // 6}"))
    for i in range(12):
        out.append(Labels.of(__name__="up", job="api" if i < 6 else "db", instance=f"h{i % 6}"))
    out.append(Labels.of(__name__="build_info", job="api", version="1.2.3-with-a-long-suffix"))
    return out


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TSDB]:
    st = TSDB.open(tmp_path / "data")
    app = st.appender()
    for k in range(3):
        for ls in _series():
            app.append(ls, T0 + k * 15_000, float(k))
    app.commit()
    yield st
    st.close()


def _expected(series: list[Labels], limit: int) -> dict[str, list[tuple[str, int]]]:
    """The lists computed the slow way, from every label set."""
    by_metric = Counter(ls.name for ls in series)
    pairs = Counter(f"{k}={v}" for ls in series for k, v in ls)
    values: dict[str, set[str]] = {}
    for ls in series:
        for k, v in ls:
            values.setdefault(k, set()).add(v)

    def top(c: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    return {
        "seriesCountByMetricName": top(by_metric),
        "labelValueCountByLabelName": top({k: len(v) for k, v in values.items()}),
        "memoryInBytesByLabelName": top({k: sum(len(x) for x in v) for k, v in values.items()}),
        "seriesCountByLabelValuePair": top(pairs),
    }


def _pairs(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(d["name"], d["value"]) for d in items]


async def _get(db: TSDB, **params: str) -> httpx.Response:
    api = ApiDeps(storage=db, engine=Engine(), tsdb_status=IndexStatus(db))
    transport = httpx.ASGITransport(app=create_app(AppDeps(api=api)))
    async with httpx.AsyncClient(transport=transport, base_url="http://guardia") as c:
        return await c.get("/api/v1/status/tsdb", params=params)


@pytest.mark.parametrize("limit", [None, "3", "1000"])
async def test_cardinality_lists_are_read_off_the_index(db: TSDB, limit: str | None) -> None:
    r = await _get(db, **({"limit": limit} if limit else {}))
    data = r.json()["data"]
    want = _expected(_series(), int(limit) if limit else 10)
    for key, expected in want.items():
        assert _pairs(data[key]) == expected, key
    head = data["headStats"]
    assert head["numSeries"] == len(_series())
    assert head["numLabelPairs"] == len({p for ls in _series() for p in ls})
    assert (head["minTime"], head["maxTime"]) == (T0, T0 + 30_000)


async def test_an_empty_head_shows_its_bounds_as_prometheus_does(tmp_path: Path) -> None:
    st = TSDB.open(tmp_path / "data")
    try:
        data = (await _get(st)).json()["data"]
    finally:
        st.close()
    assert data["headStats"]["numSeries"] == 0 and data["seriesCountByMetricName"] == []
    # Prometheus prints an empty head's bounds unconverted: MaxInt64 and MinInt64
    assert (data["headStats"]["minTime"], data["headStats"]["maxTime"]) == (2**63 - 1, -(2**63))


async def test_a_bad_limit_is_refused(db: TSDB) -> None:
    r = await _get(db, limit="0")
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data"


def _same_top(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], what: str) -> None:
    """Equal counts in order; names equal where the count is above the cut-off (Prometheus
    orders ties by map iteration, so which of several equal counts make the top is arbitrary)."""
    assert [d["value"] for d in ours] == [d["value"] for d in theirs], what
    if not ours:
        return
    cut = ours[-1]["value"]
    above = {d["name"] for d in ours if d["value"] > cut}
    assert above == {d["name"] for d in theirs if d["value"] > cut}, what


async def test_same_cardinality_as_prometheus(tmp_path: Path) -> None:
    with client_app() as app:
        text = (f"global: {{scrape_interval: 1s, scrape_timeout: 900ms}}\nscrape_configs:\n"
                f"  - job_name: app\n    static_configs: [{{targets: ['{app}']}}]\n")
        with prometheus(text, tmp_path) as prom:
            st = TSDB.open(tmp_path / "guardia")
            mgr = ScrapeManager(st, poll_interval=0.2)
            mgr.apply_config(config(text))
            task = asyncio.create_task(mgr.run())
            try:
                def prom_has_scraped() -> bool:
                    # not /status/tsdb: Prometheus caches its cardinality for 30 s once asked
                    res = prometheus_get(prom, "/api/v1/query?query=up")["result"]  # type: ignore[index]
                    return bool(res)

                await wait_for(prom_has_scraped, timeout=30)
                await wait_for(lambda: st.head.num_series > 0, timeout=10)
                await asyncio.sleep(1.5)
                theirs = prometheus_get(prom, "/api/v1/status/tsdb")
                ours = IndexStatus(st).tsdb_status(10)
            finally:
                await mgr.stop()
                task.cancel()
                st.close()
    assert isinstance(theirs, dict)
    for key in ("numSeries", "numLabelPairs"):
        assert ours["headStats"][key] == theirs["headStats"][key], key
    for key in ("seriesCountByMetricName", "labelValueCountByLabelName", "memoryInBytesByLabelName",
                "seriesCountByLabelValuePair"):
        _same_top(ours[key], theirs[key], key)
    # chunkCount is not compared: guardia's head chunks are frames of many series, so the
    # count is its own (the prometheus_tsdb_head_chunks gauge shows the same figure)


def test_postings_stats_skip_nothing_and_invent_nothing() -> None:
    from guardia.storage.tsdb.index import MemIndex

    idx = MemIndex()
    series = _series()
    for ls in series:
        idx.add(ls)
    st = idx.postings_stats("__name__", 1000)
    want = _expected(series, 1000)
    assert st.series_count_by_metric_name == want["seriesCountByMetricName"]
    assert st.series_count_by_label_value_pair == want["seriesCountByLabelValuePair"]
    assert st.num_label_pairs == len(want["seriesCountByLabelValuePair"])
    assert np.sum([c for _, c in st.series_count_by_metric_name]) == len(series)
