"""Shared loaders for the data-driven template cases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from guardia.model import Labels
from guardia.model.matchers import Matcher

DATA = Path(__file__).parent / "data"

# The two series the Prometheus cases may query (also fed to promtool by test_oracles.py).
QUERY_SERIES: list[tuple[Labels, float]] = [
    (Labels({"__name__": "up", "job": "api", "instance": "a.example.com:9100"}), 1.0),
    (Labels({"__name__": "up", "job": "db", "instance": "b:5432"}), 0.0),
]

_SELECTOR = re.compile(r'^(\w+)(?:\{(.*)\})?$')
_MATCHER = re.compile(r'(\w+)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')


def query_series(expr: str) -> list[tuple[Labels, float]]:
    """Answer the plain selectors the cases use from QUERY_SERIES (the engine is tested
    elsewhere; here only the template side of ``query`` is under test)."""
    m = _SELECTOR.match(expr.strip())
    if m is None:
        raise ValueError(f"test query helper only answers selectors, got {expr!r}")
    matchers = [Matcher.parse("__name__", "=", m.group(1))]
    for mm in _MATCHER.finditer(m.group(2) or ""):
        matchers.append(Matcher.parse(mm.group(1), mm.group(2), mm.group(3)))
    return [(ls, v) for ls, v in QUERY_SERIES if all(x.matches(ls.get(x.name)) for x in matchers)]


def load_cases(name: str) -> dict[str, Any]:
    with open(DATA / name, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict)
    return doc


def amdata_example() -> Any:
    """The example data `amtool template render` fills templates with (times left out),
    built with the alerting package's template data types (the ones notifications use)."""
    import datetime as dt

    from guardia.alerting.templates import KV, Alerts, TemplateAlert, TemplateData
    from guardia.template.gotime import as_go_time

    common = {"commonlabelkey1": "commonlabelvalue1", "commonlabelkey2": "commonlabelvalue2"}
    common_ann = {"commonannotationkey1": "commonannotationvalue1",
                  "commonannotationkey2": "commonannotationvalue2"}
    t = as_go_time(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    return TemplateData(
        Receiver="receiver", Status="alertstatus", ExternalURL="https://example.com",
        GroupLabels=KV({"grouplabelkey1": "grouplabelvalue1",
                        "grouplabelkey2": "grouplabelvalue2"}),
        CommonLabels=KV(common), CommonAnnotations=KV(common_ann),
        Alerts=Alerts([
            TemplateAlert("alertstatus",
                          KV({**common, "instance": "foo.bar:1234", "label1": "value1",
                              "label2": "value2"}),
                          KV({**common_ann, "annotation1": "value1", "annotation2": "value2"}),
                          t, t, "https://generatorurl.com", "fingerprint1"),
            TemplateAlert("alertstatus", KV({**common, "foo": "bar", "baz": "qux"}),
                          KV({**common_ann, "aaa": "bbb", "ccc": "ddd"}),
                          t, t, "https://generatorurl.com", "fingerprint2"),
        ]))
