"""series, labels and label values over HTTP, in the shapes Grafana and promtool send."""

from __future__ import annotations

import re

import httpx

from tests.web.conftest import T0


def test_series_with_match_and_range(client: httpx.Client) -> None:
    r = client.get(
        "/api/v1/series", params={"match[]": 'up{job="api"}', "start": T0 / 1000, "end": T0 / 1000 + 60}
    )
    body = r.json()
    assert body == {
        "status": "success",
        "data": [
            {"__name__": "up", "instance": "a:1", "job": "api"},
            {"__name__": "up", "instance": "b:1", "job": "api"},
        ],
    }


def test_series_union_of_several_match_and_limit(client: httpx.Client) -> None:
    r = client.post("/api/v1/series", data={"match[]": ['up{job="db"}', 'http_requests_total{code="500"}']})
    data = r.json()["data"]
    assert len(data) == 4
    r = client.get("/api/v1/series", params={"match[]": "up", "limit": 2})
    body = r.json()
    assert len(body["data"]) == 2
    assert body["warnings"] == ["results truncated due to limit"]


def test_labels_grafana_shape(client: httpx.Client) -> None:
    # Grafana: GET /api/v1/labels?match[]=...&start=...&end=...
    r = client.get(
        "/api/v1/labels",
        params={
            "match[]": 'http_requests_total{job="api"}',
            "start": str(T0 // 1000),
            "end": str(T0 // 1000 + 600),
        },
    )
    assert r.json()["data"] == ["__name__", "code", "instance", "job"]
    assert client.get("/api/v1/labels").json()["data"] == ["__name__", "code", "instance", "job"]


def test_label_values_with_match_start_end_limit(client: httpx.Client) -> None:
    assert client.get("/api/v1/label/job/values").json()["data"] == ["api", "db"]
    r = client.get("/api/v1/label/instance/values", params={"match[]": 'up{job="api"}', "limit": "1"})
    assert r.json()["data"] == ["a:1"]
    assert r.json()["warnings"] == ["results truncated due to limit"]
    assert client.get("/api/v1/label/__name__/values").json()["data"] == ["http_requests_total", "up"]
    # outside the stored range: empty list, never null
    r = client.get(
        "/api/v1/label/job/values", params={"start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"}
    )
    assert r.json() == {"status": "success", "data": []}


def test_status_endpoints_answer(client: httpx.Client) -> None:
    bi = client.get("/api/v1/status/buildinfo").json()["data"]
    assert set(bi) >= {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    tsdb = client.get("/api/v1/status/tsdb").json()["data"]
    assert tsdb["headStats"]["numSeries"] == 9
    assert tsdb["seriesCountByMetricName"][0] == {"name": "http_requests_total", "value": 6}
    assert client.get("/api/v1/query_exemplars", params={"query": "up"}).json() == {
        "status": "success",
        "data": [],
    }
    fq = client.get("/api/v1/format_query", params={"query": "sum by(job)(rate(x[5m]))"}).json()
    assert fq == {"status": "success", "data": "sum by (job) (rate(x[5m]))"}
    assert client.get("/api/v1/targets").json()["data"] == {
        "activeTargets": [],
        "droppedTargets": [],
        "droppedTargetCounts": {},
    }
    assert client.get("/api/v1/rules").json()["data"] == {"groups": []}
    assert client.get("/api/v1/alerts").json()["data"] == {"alerts": []}


def test_federate_returns_latest_samples_as_text(app_deps: object) -> None:
    from guardia.model import Labels
    from guardia.storage.memory import MemoryStorage
    from guardia.web.federate import render

    st = MemoryStorage()
    st.add_series(Labels.of(__name__="up", job="x"), [1000, 2000], [0.0, 1.0])
    st.add_series(Labels.of(__name__="old", job="x"), [1000], [5.0])
    from guardia.web.params import parse_selector

    text = render(
        st, [parse_selector('{job="x"}')], now_ms=2500, lookback_ms=1000, external_labels={"site": "a"}
    )
    assert text == '# TYPE up untyped\nup{job="x",site="a"} 1.0 2000\n'


def test_metrics_exposes_http_and_process_metrics(client: httpx.Client) -> None:
    client.get("/api/v1/labels")
    text = client.get("/metrics").text
    assert re.search(r'prometheus_http_requests_total\{code="200",handler="/api/v1/labels"\} [1-9]', text)
    assert "prometheus_http_request_duration_seconds_bucket" in text
