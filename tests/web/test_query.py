"""query and query_range through HTTP with the real engine: result shapes as Prometheus."""

from __future__ import annotations

import httpx

from tests.web.conftest import T0

S0 = T0 // 1000


def test_instant_vector_shape(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": 'up{job="db"}', "time": S0 + 300})
    assert r.json() == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "instance": "c:1", "job": "db"}, "value": [S0 + 300, "1"]}
            ],
        },
    }


def test_instant_with_millis_rfc3339_and_scalar_string(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": "1.5 * 2", "time": "2023-11-14T22:13:20.250Z"})
    assert r.json()["data"] == {"resultType": "scalar", "result": [1700000000.25, "3"]}
    r = client.get("/api/v1/query", params={"query": '"hello"', "time": S0})
    assert r.json()["data"] == {"resultType": "string", "result": [S0, "hello"]}


def test_range_query_grafana_post_form(client: httpx.Client) -> None:
    # Grafana's Prometheus data source: POST form with query, start, end, step (seconds)
    r = client.post(
        "/api/v1/query_range",
        data={
            "query": 'sum by (job) (rate(http_requests_total{code="200"}[1m]))',
            "start": str(S0 + 120),
            "end": str(S0 + 240),
            "step": "60",
        },
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body = r.json()
    assert body["status"] == "success", body
    data = body["data"]
    assert data["resultType"] == "matrix"
    by_job = {s["metric"]["job"]: s["values"] for s in data["result"]}
    # counters grow 10 per 15 s per series: rate = 2/3 per series; api has 2 instances
    assert [t for t, _ in by_job["api"]] == [S0 + 120, S0 + 180, S0 + 240]
    assert [round(float(v), 6) for _, v in by_job["api"]] == [1.333333] * 3
    assert [round(float(v), 6) for _, v in by_job["db"]] == [0.666667] * 3


def test_range_query_step_as_duration_and_limit_warning(client: httpx.Client) -> None:
    r = client.get(
        "/api/v1/query_range",
        params={"query": "up", "start": S0, "end": S0 + 60, "step": "30s", "limit": "1"},
    )
    body = r.json()
    assert len(body["data"]["result"]) == 1
    assert body["warnings"] == ["results truncated due to limit"]


def test_parse_error_and_execution_error(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": "sum(up"})
    assert r.status_code == 400
    body = r.json()
    assert body["errorType"] == "bad_data"
    assert body["error"].startswith('invalid parameter "query": ')
    # many-to-many matching is an execution error (422)
    r = client.get(
        "/api/v1/query",
        params={"query": "http_requests_total + on(job) http_requests_total", "time": S0 + 300},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errorType"] == "execution"
    metrics = client.get("/metrics").text
    assert 'guardia_api_query_failures_total{type="bad_data"}' in metrics
    assert 'guardia_api_query_failures_total{type="execution"}' in metrics
    assert "prometheus_engine_queries 0.0" in metrics


def test_query_timeout_parameter(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": "up", "time": S0, "timeout": "5s"})
    assert r.json()["status"] == "success"
