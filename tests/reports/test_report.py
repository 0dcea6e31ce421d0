"""The report over synthetic data with known answers states exactly those answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.model import format_rfc3339
from guardia.promql import Engine
from guardia.reports import EngineSource, Report, ReportRequest, build_report, render
from guardia.reports.settings import ReportSettings, ReportTargets
from guardia.slo.load import load_file
from guardia.storage.memory import MemoryStorage
from tests.reports import synth


@pytest.fixture(scope="module")
def data() -> synth.Dataset:
    return synth.build()


@pytest.fixture(scope="module")
def store(data: synth.Dataset) -> object:
    return synth.load_memory(data)


@pytest.fixture(scope="module")
def report(store: MemoryStorage) -> Report:
    return build_report(EngineSource(Engine(), store), ReportRequest(synth.WINDOW, synth.BASELINE, synth.END))


def one(report: Report, name: str, **labels: str) -> object:
    found = report.find(name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_latency_quantiles_are_the_histograms_own(report: Report, data: synth.Dataset) -> None:
    for q, name in ((0.5, "latency_p50"), (0.95, "latency_p95"), (0.99, "latency_p99")):
        fig = one(report, name, job="api")
        assert fig.value == pytest.approx(data.expected_quantiles[q], rel=1e-9)
        assert fig.baseline == pytest.approx(data.expected_baseline_quantiles[q], rel=1e-9)
        # 40% slower in the window: a significant rise, so the check fails and says why
        assert fig.test["method"] == "Mann-Whitney U" and fig.test["significant"]
        assert fig.test["n_window"] == 48 and fig.test["n_baseline"] == 192
        assert fig.verdict == "fail" and "Mann-Whitney U" in fig.note


def test_the_injected_outage_is_reported_with_its_start_and_end(report: Report) -> None:
    outages = one(report, "outages", metric="up", job="api")
    assert outages.value == 1
    (row,) = outages.details
    assert row["instance"] == "a:1"
    assert row["start"] == format_rfc3339(synth.OUTAGE[0])
    assert row["end"] == format_rfc3339(synth.OUTAGE[1])
    assert row["duration_seconds"] == 1800
    avail = one(report, "availability", metric="up", job="api")
    # a:1 was down 30 of 1440 minutes; a:2 up for the 1381 minutes it has data
    assert avail.value == pytest.approx((1410 + 1381) / (1440 + 1381))
    assert avail.verdict == "fail" and avail.target == 0.999


def test_a_window_with_missing_data_says_so(report: Report) -> None:
    cov = one(report, "data_coverage", metric="up", job="api")
    (gap,) = cov.details
    assert gap == {"instance": "a:2", "from": format_rfc3339(synth.GAP[0] + synth.MIN),
                   "to": format_rfc3339(synth.GAP[1]), "seconds": 3540.0}
    assert report.coverage["summary"].startswith("missing data: 1 gap")
    md = render(report, "md").decode()
    assert "Data coverage: missing data" in md


def test_the_memory_leak_is_found_in_the_leaking_instance_only(report: Report) -> None:
    leak = one(report, "memory_leak", job="api")
    assert leak.verdict == "fail" and leak.value == 1
    (row,) = leak.details
    assert row["instance"] == "a:1" and row["leak"]
    assert row["slope_per_hour"] == pytest.approx(synth.LEAK_PER_HOUR, rel=0.03)
    assert leak.test["instances_tested"] == 2


def test_alerts_with_their_counts_and_firing_time(report: Report) -> None:
    crit = one(report, "alerts", severity="critical")
    assert crit.value == 1 and crit.verdict == "fail"
    assert crit.details == [{"alertname": "APIDown", "count": 1, "firing_seconds": 1800.0}]
    warn = one(report, "alerts", severity="warning")
    assert warn.value == 1 and warn.verdict == "info"
    hl = one(report, "alert_firing_time", alertname="HighLatency", severity="warning")
    assert hl.value == 45 * 60
    (ep,) = hl.details
    begin, length, _ = synth.ALERT_RUNS["HighLatency"]
    assert ep["start"] == format_rfc3339(begin) and ep["end"] == format_rfc3339(begin + length)


def test_the_deployment_and_the_restart(report: Report) -> None:
    dep = one(report, "deployments")
    assert dep.value == 1
    assert dep.details[0] | {"recorded": ""} == {
        "service": "api", "version": "v2.0.1", "status": "success", "commit": "abc1234",
        "finished": format_rfc3339(synth.DEPLOY_AT), "recorded": ""}
    assert one(report, "failed_deployments").verdict == "pass"
    restarts = one(report, "restarts", job="api")
    assert restarts.value == 1 and restarts.verdict == "fail"
    assert restarts.details == [{"instance": "a:2", "restarts": 1.0,
                                 "started_at": [format_rfc3339(synth.RESTART)]}]


def test_the_request_spike_is_the_only_traffic_anomaly(report: Report) -> None:
    an = one(report, "anomalies", job="api")
    traffic = [r for r in an.details if r["signal"] == "request_rate"]
    # the spike hour is two 30-minute intervals, each against the same half hour of 4 days
    assert [r["interval_ending"] for r in traffic] == [
        format_rfc3339(synth.SPIKE_HOUR_END - 30 * synth.MIN), format_rfc3339(synth.SPIKE_HOUR_END)]
    assert all(r["z"] > 100 for r in traffic)
    assert one(report, "request_rate", job="api").value > 0


def test_error_rate_against_the_slo_target(store: MemoryStorage, data: synth.Dataset, tmp_path: Path) -> None:
    f = tmp_path / "slo.yml"
    f.write_text("slos:\n- name: availability\n  service: api\n  objective: 99.9\n  indicator:\n"
                 "    ratio:\n      errors: http_requests_total{status=~\"5..\"}\n"
                 "      total: http_requests_total\n")
    slos, _ = load_file(f)
    r = build_report(EngineSource(Engine(), store),
                     ReportRequest(synth.WINDOW, synth.BASELINE, synth.END, slos=slos))
    err = one(r, "error_rate", job="api")
    assert err.value == pytest.approx(data.expected_error_rate, rel=1e-9)
    assert err.baseline == pytest.approx(0.001, rel=1e-9)
    assert err.target == pytest.approx(0.001) and err.verdict == "fail"
    assert "SLO api/availability" in err.note
    succ = one(r, "success_rate", job="api")
    assert succ.value == pytest.approx(1 - data.expected_error_rate) and succ.target == pytest.approx(0.999)
    slo = one(r, "slo_error_ratio", slo_service="api", slo="availability")
    assert slo.value == pytest.approx(data.expected_error_rate, rel=1e-6) and slo.verdict == "fail"
    assert not [n for n in r.not_evaluated if n.name == "error_rate_target"]


def test_no_data_is_never_a_pass() -> None:
    r = build_report(EngineSource(Engine(), MemoryStorage()),
                     ReportRequest(synth.WINDOW, synth.BASELINE, synth.END))
    verdicts = {f.verdict for f in r.figures()}
    assert verdicts == {"no_data"}
    assert r.score is not None and r.score.value == 0 and r.score.passed == 0
    names = {n.name for n in r.not_evaluated}
    assert {"availability", "latency_p95", "error_rate", "memory_leak", "restarts", "alerts",
            "anomalies", "deployments", "cache_hit_ratio"} <= names
    assert r.coverage["summary"] == "no scrape data (no up series) in the window"
    md = render(r, "md").decode()
    assert "no data" in md and "## Not evaluated" in md


def test_the_score_formula_is_printed_and_holds(report: Report) -> None:
    s = report.score
    assert s is not None
    verdicts = [f.verdict for f in report.figures()]
    assert (s.passed, s.failed, s.no_data) == (verdicts.count("pass"), verdicts.count("fail"),
                                                verdicts.count("no_data"))
    assert s.value == round(10 * s.passed / (s.passed + s.failed + s.no_data), 2)
    assert s.formula in render(report, "md").decode()


def test_every_figure_in_json_has_its_evidence(report: Report) -> None:
    import json

    doc = json.loads(render(report, "json"))
    for f in doc["figures"]:
        assert {"name", "labels", "value", "unit", "query", "section"} <= set(f)
        assert f["query"], f
    assert all({"name", "labels", "reason"} <= set(n) for n in doc["not_evaluated"])
    assert doc["score"]["formula"]


def test_markdown_footnotes_hold_every_query(report: Report) -> None:
    md = render(report, "md").decode()
    for f in report.figures():
        assert " ".join(f.query.split()) in md


def test_service_filter_and_availability_target(store: MemoryStorage) -> None:
    settings = ReportSettings(targets=ReportTargets(availability=0.95))
    r = build_report(EngineSource(Engine(), store),
                     ReportRequest(synth.WINDOW, synth.BASELINE, synth.END, service="api", settings=settings))
    avail = one(r, "availability", metric="up", job="api")
    assert avail.verdict == "pass" and 'up{job="api"}' in avail.query
    r2 = build_report(EngineSource(Engine(), store),
                      ReportRequest(synth.WINDOW, synth.BASELINE, synth.END, service="web"))
    assert one(r2, "availability", job="web").verdict == "no_data"
    assert not r2.find("alerts", severity="warning")


def test_every_compared_figure_is_what_its_query_returns(report: Report, store: MemoryStorage) -> None:
    """The evidence holds: each figure's printed query, run at the window's end, gives its value
    (and its baseline query at the baseline's end, the baseline)."""
    engine = Engine()
    checked = 0
    for f in report.figures():
        if not f.baseline_query or f.value is None:
            continue
        got = {tuple(sorted((k, v) for k, v in s.labels if k != "__name__")): s.v
               for s in engine.instant(store, f.query, report.end_ms).value}
        mine = tuple(sorted((k, v) for k, v in f.labels.items() if k not in ("histogram", "cache")))
        assert got[mine] == pytest.approx(f.value, rel=1e-12), f.name
        if f.baseline is not None:
            base = {tuple(sorted((k, v) for k, v in s.labels if k != "__name__")): s.v
                    for s in engine.instant(store, f.baseline_query, report.baseline_end_ms).value}
            assert base[mine] == pytest.approx(f.baseline, rel=1e-12), f.name
        checked += 1
    assert checked >= 8
