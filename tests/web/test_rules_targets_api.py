"""/api/v1/rules, /alerts, /targets and metadata shapes from the API's view types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
import pytest

from guardia.model import Labels
from guardia.storage.memory import MemoryStorage
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from guardia.web.protocols import (
    AlertView,
    DroppedTargetView,
    MetricMetadata,
    RuleGroupView,
    RuleView,
    TargetView,
)
from tests.web.conftest import LiveServer

T = 1_700_000_000_000


class Rules:
    def rule_groups(self) -> Sequence[RuleGroupView]:
        alert = AlertView(
            labels=Labels.of(alertname="HighErrors", severity="page"),
            annotations=Labels.of(summary="5xx above 5%"),
            state="firing",
            active_at_ms=T,
            value=0.0731,
        )
        return [
            RuleGroupView(
                name="api",
                file="/etc/guardia/rules.yml",
                interval_s=30.0,
                rules=[
                    RuleView(
                        name="job:errors:rate5m",
                        query="sum by (job) (rate(errors[5m]))",
                        type="recording",
                        health="ok",
                        last_evaluation_ms=T,
                        evaluation_time_s=0.002,
                    ),
                    RuleView(
                        name="HighErrors",
                        query="job:errors:rate5m > 0.05",
                        type="alerting",
                        labels=Labels.of(severity="page"),
                        annotations=Labels.of(summary="5xx above 5%"),
                        duration_s=300.0,
                        health="ok",
                        alerts=[alert],
                    ),
                    RuleView(
                        name="Quiet",
                        query="vector(0) > 1",
                        type="alerting",
                        health="err",
                        last_error="many-to-many matching not allowed",
                    ),
                ],
            )
        ]


class Targets:
    def active_targets(self) -> Sequence[TargetView]:
        return [
            TargetView(
                discovered_labels=Labels.of(__address__="api:8000", job="api"),
                labels=Labels.of(instance="api:8000", job="api"),
                scrape_pool="api",
                scrape_url="http://api:8000/metrics",
                health="down",
                last_error="connection refused",
                last_scrape_ms=T,
                last_scrape_duration_s=0.003,
                scrape_interval="15s",
                scrape_timeout="10s",
                metadata={"http_requests_total": MetricMetadata("counter", "Requests.")},
                warnings=("2 duplicate series in the exposition were ignored",),
            )
        ]

    def dropped_targets(self) -> Sequence[DroppedTargetView]:
        return [DroppedTargetView(Labels.of(__address__="db:9187", job="api"), "api")]

    def discovery_errors(self) -> Mapping[str, Sequence[str]]:
        return {"files": ["targets.json: invalid JSON at line 1"]}


@pytest.fixture(scope="module")
def c() -> httpx.Client:
    app = create_app(AppDeps(api=ApiDeps(storage=MemoryStorage(), rules=Rules(), targets=Targets())))
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        yield client


def test_rules_shape(c: httpx.Client) -> None:
    g = c.get("/api/v1/rules").json()["data"]["groups"][0]
    assert g["name"] == "api" and g["file"] == "/etc/guardia/rules.yml" and g["interval"] == 30.0
    rec, alert, quiet = g["rules"]
    assert rec == {
        "name": "job:errors:rate5m",
        "query": "sum by (job) (rate(errors[5m]))",
        "labels": {},
        "health": "ok",
        "evaluationTime": 0.002,
        "lastEvaluation": "2023-11-14T22:13:20Z",
        "type": "recording",
    }
    assert alert["state"] == "firing" and alert["duration"] == 300.0
    assert alert["alerts"][0]["value"] == "7.31e-02"
    assert alert["alerts"][0]["activeAt"] == "2023-11-14T22:13:20Z"
    assert quiet["state"] == "inactive" and quiet["lastError"] == "many-to-many matching not allowed"


def test_rules_filters(c: httpx.Client) -> None:
    only_rec = c.get("/api/v1/rules", params={"type": "record"}).json()["data"]["groups"][0]["rules"]
    assert [r["name"] for r in only_rec] == ["job:errors:rate5m"]
    named = c.get("/api/v1/rules", params={"rule_name[]": "Quiet"}).json()["data"]["groups"][0]["rules"]
    assert [r["name"] for r in named] == ["Quiet"]
    assert c.get("/api/v1/rules", params={"rule_group[]": "other"}).json()["data"]["groups"] == []
    no_alerts = c.get("/api/v1/rules", params={"type": "alert", "exclude_alerts": "true"}).json()
    assert all("alerts" not in r for r in no_alerts["data"]["groups"][0]["rules"])


def test_alerts(c: httpx.Client) -> None:
    alerts = c.get("/api/v1/alerts").json()["data"]["alerts"]
    assert alerts == [
        {
            "labels": {"alertname": "HighErrors", "severity": "page"},
            "annotations": {"summary": "5xx above 5%"},
            "state": "firing",
            "activeAt": "2023-11-14T22:13:20Z",
            "value": "7.31e-02",
        }
    ]


def test_targets_and_metadata(c: httpx.Client) -> None:
    data = c.get("/api/v1/targets").json()["data"]
    t = data["activeTargets"][0]
    assert t["health"] == "down" and t["lastError"] == "connection refused"
    assert t["lastScrape"] == "2023-11-14T22:13:20Z" and t["scrapePool"] == "api"
    assert c.get("/api/v1/targets").json()["warnings"] == [
        'scrape pool "files": targets.json: invalid JSON at line 1',
        "target http://api:8000/metrics: 2 duplicate series in the exposition were ignored",
    ]
    only_api = c.get("/api/v1/targets", params={"scrapePool": "api"}).json()
    assert only_api["warnings"] == [
        "target http://api:8000/metrics: 2 duplicate series in the exposition were ignored"
    ]
    assert data["droppedTargets"] == [
        {"discoveredLabels": {"__address__": "db:9187", "job": "api"}, "scrapePool": "api"}
    ]
    assert data["droppedTargetCounts"] == {"api": 1}
    assert c.get("/api/v1/targets", params={"state": "active"}).json()["data"]["droppedTargets"] == []
    assert c.get("/api/v1/targets", params={"scrapePool": "nope"}).json()["data"]["activeTargets"] == []
    md = c.get("/api/v1/metadata").json()["data"]
    assert md == {"http_requests_total": [{"type": "counter", "help": "Requests.", "unit": ""}]}
    tmd = c.get("/api/v1/targets/metadata", params={"metric": "http_requests_total"}).json()["data"]
    assert tmd == [
        {"target": {"instance": "api:8000", "job": "api"}, "type": "counter", "help": "Requests.", "unit": ""}
    ]
    bad = c.get("/api/v1/targets/metadata", params={"match_target": "{job="})
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data"


def test_external_url_path_becomes_the_route_prefix() -> None:
    app = create_app(AppDeps(api=ApiDeps(storage=MemoryStorage()), route_prefix="/guardia"))
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/guardia/api/v1/labels").json() == {"status": "success", "data": []}
        assert client.get("/guardia/-/ready").status_code == 200
        assert client.get("/api/v1/labels").status_code == 404


class _FailingDisk:
    """A store whose reads fail, as when the data directory's disk goes away."""

    def querier(self, mint: int, maxt: int) -> object:
        raise OSError(5, "Input/output error")


def test_unexpected_storage_failure_is_an_internal_error_envelope_not_a_traceback() -> None:
    app = create_app(AppDeps(api=ApiDeps(storage=_FailingDisk())))  # type: ignore[arg-type]
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        for path in ("/api/v1/labels", "/api/v1/label/job/values"):
            r = client.get(path)
            assert r.status_code == 500
            body = r.json()
            assert body["errorType"] == "internal" and "Input/output error" in body["error"]
            assert "Traceback" not in r.text
        r = client.get("/api/v1/series", params={"match[]": "up"})
        assert r.status_code == 500 and r.json()["errorType"] == "internal"
        assert client.get("/-/healthy").status_code == 200
