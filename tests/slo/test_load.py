"""SLO files of every format load into the same SLO; bad ones are refused with file, line,
field and what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.config.errors import ConfigError
from guardia.slo import load_config_slos, load_file
from guardia.slo.load import find, load_any
from guardia.slo.period import Period

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, text: str, name: str = "slo.yml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_file(path)
    return [str(i) for i in e.value.issues if i.severity == "error"]


@pytest.mark.parametrize("name,fmt", [("api.yml", "guardia"), ("sloth_api.yml", "sloth"),
                                      ("sloth_api_k8s.yml", "sloth"), ("pyrra_api.yml", "pyrra")])
def test_every_format_gives_the_same_slo(name: str, fmt: str) -> None:
    (slo,), warnings = load_file(DATA / name)
    assert warnings == []
    assert (slo.service, slo.name, slo.objective, slo.period) == (
        "api", "requests-availability", 0.999, Period.parse("30d"))
    assert slo.labels["owner"] == "backend"
    assert slo.alerting.name == "APIHighErrorRate"
    assert slo.format == fmt
    assert slo.description == "HTTP requests answered without a 5xx"
    total = slo.indicator.total_expr(300_000)
    assert total == 'sum(rate(http_requests_total{job="api"}[5m]))'
    assert 'sum(rate(http_requests_total{job="api",status=~"5.."}[5m]))' in slo.indicator.errors_expr(300_000)


def test_latency_probe_and_gauge_indicators_become_event_rates(tmp_path: Path) -> None:
    p = write(tmp_path, """
slos:
  - name: latency
    service: api
    objective: 99
    window: month
    indicator:
      latency: {metric: http_request_duration_seconds, threshold: 0.5, selector: '{job="api"}'}
  - name: reachable
    service: web
    objective: 99.5
    window: week
    indicator:
      probe: {job: blackbox, instance: "https://example.org/health"}
  - name: up
    service: db
    objective: 0.999
    indicator:
      bool_gauge: up{job="postgres"}
""")
    lat, probe, up = load_file(p)[0]
    assert lat.indicator.errors_expr(60_000) == (
        'sum(rate(http_request_duration_seconds_count{job="api"}[1m]))\n-\n'
        'sum(rate(http_request_duration_seconds_bucket{job="api",le="0.5"}[1m]))')
    assert lat.period.calendar == "month" and lat.objective == 0.99
    assert probe.indicator.total_expr(300_000) == (
        'sum(count_over_time(probe_success{job="blackbox",instance="https://example.org/health"}[5m])) / 300')
    assert up.objective == 0.999
    assert "sum_over_time(up{job=\"postgres\"}[5m])" in up.indicator.errors_expr(300_000)


def test_a_missing_objective_and_a_bad_window_are_pinned_to_their_lines(tmp_path: Path) -> None:
    p = write(tmp_path, """slos:
  - name: a
    service: api
    window: fortnight
    indicator:
      ratio: {errors: 'x{code="500"}', total: x}
""")
    errs = errors(p)
    assert any(e.startswith(f"{p}:2:") and "objective is required" in e for e in errs), errs
    assert any(e.startswith(f"{p}:4:") and "slos[0].window" in e and "month" in e for e in errs), errs


def test_a_query_that_does_not_parse_names_the_field_and_the_parser_error(tmp_path: Path) -> None:
    p = write(tmp_path, """slos:
  - name: a
    service: api
    objective: 99.9
    indicator:
      ratio:
        errors: sum(rate(x{code="500"}[{{.window}}])
        total: x
""")
    (e,) = errors(p)
    assert e.startswith(f"{p}:7:") and "indicator.ratio.errors" in e and "parse error" in e


def test_a_query_without_the_window_says_to_use_it(tmp_path: Path) -> None:
    p = write(tmp_path, """slos:
  - name: a
    service: api
    objective: 99.9
    indicator:
      ratio: {errors: 'sum(rate(x{code="500"}[5m]))', total: x}
""")
    (e,) = errors(p)
    assert "{{.window}}" in e


@pytest.mark.parametrize("objective", ["150", "0", "'lots'"])
def test_objectives_outside_0_100_are_refused(tmp_path: Path, objective: str) -> None:
    p = write(tmp_path, f"""version: prometheus/v1
service: api
slos:
  - name: a
    objective: {objective}
    sli: {{raw: {{error_ratio_query: 'avg_over_time(err[{{{{.window}}}}])'}}}}
    alerting: {{name: A}}
""")
    (e,) = errors(p)
    assert f"{p}:5:" in e and "objective" in e


def test_sloth_plugins_and_queries_without_window_are_refused(tmp_path: Path) -> None:
    p = write(tmp_path, """version: prometheus/v1
service: api
slos:
  - name: a
    objective: 99
    sli:
      plugin: {id: sloth-common/kubernetes/apiserver/availability}
    alerting: {name: A}
  - name: b
    objective: 99
    sli:
      events:
        error_query: sum(rate(x{code="500"}[5m]))
        total_query: sum(rate(x[{{.window}}]))
    alerting: {name: B}
""")
    errs = errors(p)
    assert any("plugin" in e and "not supported" in e and f"{p}:7:" in e for e in errs), errs
    assert any("{{.window}}" in e and "slos[1].sli.events" in e for e in errs), errs


def test_sloth_needs_an_alert_name(tmp_path: Path) -> None:
    p = write(tmp_path, """version: prometheus/v1
service: api
slos:
  - name: a
    objective: 99
    sli: {raw: {error_ratio_query: 'avg_over_time(err[{{.window}}])'}}
""")
    (e,) = errors(p)
    assert "alerting is required" in e


def test_pyrra_native_latency_is_refused_with_the_alternative(tmp_path: Path) -> None:
    p = write(tmp_path, """apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: lat}
spec:
  target: "99"
  window: 2w
  indicator:
    latencyNative:
      latency: 1s
      total: {metric: 'http_request_duration_seconds{job="api"}'}
""")
    (e,) = errors(p)
    assert f"{p}:9:" in e and "_bucket" in e


def test_unknown_formats_say_which_ones_are_read(tmp_path: Path) -> None:
    assert "pyrra.dev/v1alpha1" in errors(write(tmp_path, "apiVersion: openslo/v1\nkind: SLO\n"))[0]
    assert "prometheus/v1" in errors(write(tmp_path, "version: prometheus/v2\nservice: a\n"))[0]
    assert "PrometheusServiceLevel" in errors(write(
        tmp_path, "apiVersion: sloth.slok.dev/v1\nkind: ServiceLevel\n"))[0]


def test_several_documents_in_one_file_keep_their_line_numbers(tmp_path: Path) -> None:
    doc = (DATA / "pyrra_api.yml").read_text()
    bad = doc.replace('target: "99.9"', 'target: "999"').replace("name: requests-availability",
                                                                  "name: other")
    p = write(tmp_path, doc + "---\n" + bad)
    (e,) = errors(p)
    line = len(doc.splitlines()) + 1 + bad.splitlines().index('  target: "999"') + 1
    assert e.startswith(f"{p}:{line}:"), e


def test_two_slos_with_one_name_are_refused(tmp_path: Path) -> None:
    doc = (DATA / "pyrra_api.yml").read_text()
    (e,) = errors(write(tmp_path, doc + "---\n" + doc))
    assert "defined twice" in e


def test_guardia_yml_takes_inline_slos_and_files_of_any_format(tmp_path: Path) -> None:
    (tmp_path / "slos").mkdir()
    for name in ("sloth_api.yml", "pyrra_api.yml"):
        text = (DATA / name).read_text().replace("requests-availability", name.split("_")[0])
        (tmp_path / "slos" / name).write_text(text)
    cfg = write(tmp_path, """global: {scrape_interval: 15s}
slos:
  - name: latency
    service: api
    objective: 99
    indicator:
      latency: {metric: http_request_duration_seconds, threshold: 0.5}
  - file: slos/*.yml
""", "guardia.yml")
    slos, warnings = load_config_slos(cfg)
    assert warnings == []
    assert sorted((s.service, s.name, s.format) for s in slos) == [
        ("api", "latency", "guardia"), ("api", "pyrra", "pyrra"), ("api", "sloth", "sloth")]
    assert load_any(cfg)[0] == slos
    assert find(slos, "api/latency").name == "latency"
    with pytest.raises(KeyError, match="known: api/latency"):
        find(slos, "nope")
