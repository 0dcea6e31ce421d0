"""Before an SLO is accepted its queries are looked up in the stored series; an SLO on
metrics or labels nobody exposes is an error naming them."""

from __future__ import annotations

from pathlib import Path

from guardia.model import Labels
from guardia.slo import load_file
from guardia.slo.datacheck import check_slo
from guardia.storage.memory import MemoryStorage
from tests.slo.synth import T0, Traffic

DATA = Path(__file__).parent / "data"
NOW = T0 + 3_600_000


def slo_from(tmp_path: Path, indicator: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "s.yml"
    p.write_text(f"slos:\n  - name: s\n    service: api\n    objective: 99\n    indicator:\n{indicator}")
    (slo,), _ = load_file(p)
    return slo


def store() -> MemoryStorage:
    s = Traffic.steady(1).store()
    for le in ("0.1", "0.5", "1.0", "+Inf"):
        s.add_series(Labels({"__name__": "http_request_duration_seconds_bucket", "job": "api", "le": le}),
                     [T0], [1.0])
    s.add_series(Labels({"__name__": "http_request_duration_seconds_count", "job": "api"}), [T0], [1.0])
    return s


def test_an_slo_on_existing_series_is_accepted() -> None:
    (slo,), _ = load_file(DATA / "api.yml")
    assert check_slo(slo, store(), NOW) == []


def test_errors_that_have_not_happened_yet_are_fine() -> None:
    (slo,), _ = load_file(DATA / "api.yml")
    s = MemoryStorage()
    s.add_series(Labels({"__name__": "http_requests_total", "job": "api", "status": "200"}), [T0], [1.0])
    assert check_slo(slo, s, NOW) == []


def test_a_metric_nobody_exposes_is_named(tmp_path: Path) -> None:
    slo = slo_from(tmp_path, "      ratio: {errors: 'http_requests_total{job=\"api\",code=\"500\"}', "
                             "total: 'http_request_total{job=\"api\"}'}\n")
    problems = check_slo(slo, store(), NOW)
    assert any("no series named http_request_total" in p and "nobody exposes it" in p for p in problems)
    # the errors selector names a label the metric does not have
    assert any("http_requests_total has no label 'code'" in p and "status" in p for p in problems)


def test_a_job_that_matches_no_target_lists_the_jobs_there_are(tmp_path: Path) -> None:
    slo = slo_from(tmp_path, "      ratio: {errors: 'http_requests_total{job=\"fastapi\",status=~\"5..\"}', "
                             "total: 'http_requests_total{job=\"fastapi\"}'}\n")
    (p,) = check_slo(slo, store(), NOW)
    assert 'no http_requests_total series has job="fastapi"; job is \'api\'' in p


def test_a_latency_threshold_without_a_bucket_lists_the_buckets(tmp_path: Path) -> None:
    slo = slo_from(tmp_path, "      latency: {metric: http_request_duration_seconds, threshold: 0.4, "
                             "selector: '{job=\"api\"}'}\n")
    (p,) = check_slo(slo, store(), NOW)
    assert 'le="0.4"' in p and "'0.1', '0.5', '1.0', '+Inf'" in p
    ok = slo_from(tmp_path, "      latency: {metric: http_request_duration_seconds, threshold: 0.5, "
                            "selector: '{job=\"api\"}'}\n")
    assert check_slo(ok, store(), NOW) == []
