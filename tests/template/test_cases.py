"""Data-driven template cases: Go semantics, Prometheus's and Alertmanager's functions."""

from __future__ import annotations

from typing import Any

import pytest
from tests.template.conftest import amdata_example, load_cases, query_series

from guardia.template import (
    AlertTemplateData,
    Template,
    TemplateError,
    alertmanager_funcs,
    check_alert_template,
    expand_alert_template,
)

PROM = load_cases("prometheus_cases.yml")
GO = load_cases("go_cases.yml")
AM = load_cases("alertmanager_cases.yml")
PARSE = load_cases("parse_errors.yml")
AMDATA = load_cases("alertmanager_data_cases.yml")


def _ids(doc: dict[str, Any]) -> list[str]:
    return [c["name"] for c in doc["cases"]]


@pytest.mark.parametrize("case", PROM["cases"], ids=_ids(PROM))
def test_prometheus_alert_template(case: dict[str, Any]) -> None:
    defaults = PROM["defaults"]
    labels = case.get("labels", defaults["labels"])
    value = float(case.get("value", defaults["value"]))
    data = AlertTemplateData(dict(labels), {"cluster": "prod"}, "", value)
    got = expand_alert_template(case["template"], "T", data, query_func=query_series)
    assert got == case["expected"]


@pytest.mark.parametrize("case", GO["cases"], ids=_ids(GO))
def test_go_semantics(case: dict[str, Any]) -> None:
    tmpl = Template()
    if "error" in case:
        with pytest.raises(TemplateError) as err:
            tmpl.parse(case["template"], "t").execute(case["data"])
        assert str(err.value) == case["error"]
    else:
        assert tmpl.parse(case["template"], "t").execute(case["data"]) == case["expected"]


@pytest.mark.parametrize("case", AM["cases"], ids=_ids(AM))
def test_alertmanager_funcs(case: dict[str, Any]) -> None:
    tmpl = Template(alertmanager_funcs()).parse(case["template"], "t")
    assert tmpl.execute({}) == case["expected"]


@pytest.mark.parametrize("case", PARSE["cases"], ids=_ids(PARSE))
def test_parse_errors(case: dict[str, Any]) -> None:
    assert check_alert_template(case["template"], "T") == case["expected"]


def test_parse_error_carries_line_and_column() -> None:
    with pytest.raises(TemplateError) as err:
        Template().parse("ok\n  {{ nosuch }}", "t")
    assert (err.value.line, err.value.col) == (2, 5)
    assert err.value.detail == 'function "nosuch" not defined'


@pytest.mark.parametrize("case", AMDATA["cases"], ids=_ids(AMDATA))
def test_alertmanager_data(case: dict[str, Any]) -> None:
    tmpl = Template(alertmanager_funcs()).parse(case["template"], "t")
    assert tmpl.execute(amdata_example()) == case["expected"]


def test_prometheus3_now_and_to_duration() -> None:
    """Prometheus 3 additions (not in promtool 2.42, so not in the oracle-checked file)."""
    data = AlertTemplateData({"a": "b"}, {}, "", 1.0)
    got = expand_alert_template(
        "{{ now }}|{{ toDuration 90.5 }}|{{ 3725 | toDuration }}|"
        "{{ humanizeDuration (toDuration 61) }}", "X", data, None, "", 1_700_000_000_123)
    assert got == "1.700000000123e+09|1m30.5s|1h2m5s|1m 1s"
