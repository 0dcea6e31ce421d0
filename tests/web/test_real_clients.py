"""Real clients against guardia: promtool, prometheus-api-client, Grafana-shaped requests."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import httpx
from prometheus_api_client import PrometheusConnect

from tests.web.conftest import T0

S0 = T0 // 1000
PROMTOOL = "/usr/bin/promtool"


def _promtool(*args: str) -> str:
    out = subprocess.run([PROMTOOL, "query", *args], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout


def test_promtool_instant(client: httpx.Client) -> None:
    out = _promtool("instant", "-o", "json", "--time", str(S0 + 300), str(client.base_url), 'up{job="api"}')
    got = json.loads(out)
    assert sorted(s["metric"]["instance"] for s in got) == ["a:1", "b:1"]
    assert {s["value"][1] for s in got} == {"1"}


def test_promtool_range(client: httpx.Client) -> None:
    out = _promtool(
        "range",
        "-o",
        "json",
        "--start",
        str(S0),
        "--end",
        str(S0 + 60),
        "--step",
        "15s",
        str(client.base_url),
        'http_requests_total{job="db",code="200"}',
    )
    got = json.loads(out)
    assert len(got) == 1
    assert got[0]["values"] == [[S0 + i * 15, str(i * 10)] for i in range(5)]


def test_promtool_series_and_labels(client: httpx.Client) -> None:
    out = _promtool(
        "series", "--match", 'up{job="db"}', "--start", str(S0), "--end", str(S0 + 600), str(client.base_url)
    )
    assert out.strip() == '{__name__="up", instance="c:1", job="db"}'
    out = _promtool("labels", "--start", str(S0), "--end", str(S0 + 600), str(client.base_url), "job")
    assert out.split() == ["api", "db"]


def test_prometheus_api_client(client: httpx.Client) -> None:
    prom = PrometheusConnect(url=str(client.base_url), disable_ssl=True)
    assert prom.check_prometheus_connection()
    assert sorted(prom.all_metrics()) == ["http_requests_total", "up"]
    res = prom.custom_query(query='sum(up{job="api"})', params={"time": S0 + 300})
    assert res == [{"metric": {}, "value": [S0 + 300, "2"]}]
    rng = prom.custom_query_range(
        'up{instance="c:1"}',
        start_time=datetime.fromtimestamp(S0, tz=UTC),
        end_time=datetime.fromtimestamp(S0 + 30, tz=UTC),
        step="15",
    )
    assert rng[0]["values"] == [[S0, "1"], [S0 + 15, "1"], [S0 + 30, "1"]]
    values = prom.get_label_values("instance")
    assert values == ["a:1", "b:1", "c:1"]


def test_grafana_request_shapes(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Grafana-Org-Id": "1"}
    # health check / version detection
    bi = client.get("/api/v1/status/buildinfo").json()
    assert bi["status"] == "success"
    assert bi["data"]["version"].startswith("3.")  # Grafana picks API features by this
    assert bi["data"]["application"] == "guardia"
    # query_range as POST form with the interval Grafana computes (step in seconds)
    r = client.post(
        "/api/v1/query_range",
        content=f"query=up&start={S0}&end={S0 + 300}&step=15".encode(),
        headers=headers,
    )
    assert r.json()["status"] == "success"
    assert len(r.json()["data"]["result"]) == 3
    # label browser: labels and label values restricted by match[] and time range
    r = client.post(
        "/api/v1/labels",
        content=f"match%5B%5D=%7Bjob%3D%22db%22%7D&start={S0}&end={S0 + 600}".encode(),
        headers=headers,
    )
    assert r.json()["data"] == ["__name__", "code", "instance", "job"]
    r = client.get(
        "/api/v1/label/__name__/values", params={"match[]": '{job="db"}', "start": S0, "end": S0 + 600}
    )
    assert r.json()["data"] == ["http_requests_total", "up"]
    # metadata for the metric browser: empty map without scraped targets, never an error
    assert client.get("/api/v1/metadata").json() == {"status": "success", "data": {}}
