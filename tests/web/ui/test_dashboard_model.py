"""Reading Grafana's dashboard JSON model (and YAML), and the errors for bad dashboards."""

from __future__ import annotations

import json

import pytest

from guardia.web.ui.dashboards.model import DashboardError, Row, load_text, parse_dashboard
from tests.web.ui.conftest import DASHBOARDS


def load(name: str):  # type: ignore[no-untyped-def]
    return parse_dashboard(load_text((DASHBOARDS / name).read_text(), name), name)


def test_grafana_com_export_reads_panels_rows_and_variables() -> None:
    d = load("everything.json")
    assert d.uid == "ui-everything" and d.version == 3 and d.time_from == "now-15m"
    assert [p.id for p in d.panels()] == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13]
    rows = [it for it in d.items if isinstance(it, Row)]
    assert [(r.title, r.collapsed, [p.id for p in r.panels]) for r in rows] == [
        ("Tables and problems", False, [8, 9, 10, 11]), ("Collapsed row", True, [13])]
    p1 = d.panel(1)
    assert p1 is not None and p1.unit == "reqps" and p1.fill_opacity == 10
    assert p1.targets[0].legend_format == "{{handler}}" and p1.targets[0].interval == "15s"
    assert d.panel(2).unit == "s"  # type: ignore[union-attr]  # the old graph panel's yaxes format
    assert d.panel(3).targets[0].instant  # type: ignore[union-attr]
    assert [t.value for t in d.panel(4).thresholds] == [None, 20.0]  # type: ignore[union-attr]
    assert not d.panel(11).supported  # type: ignore[union-attr]
    v = {x.name: x for x in d.variables}
    assert v["job"].query == "label_values(http_requests_total, job)"  # the query-object form
    assert v["handler"].multi and v["handler"].include_all and v["handler"].current == ("$__all",)
    assert v["status"].all_value == ".*"


def test_pre_5_rows_layout_and_yaml() -> None:
    d = load("legacy-rows.json")
    (row,) = d.items
    assert isinstance(row, Row) and row.title == "Traffic"
    assert [(p.type, p.grid.x, p.grid.w, p.grid.h) for p in row.panels] == [
        ("graph", 0, 12, 8), ("singlestat", 12, 12, 8)]
    y = load("yaml-dashboard.yml")
    assert y.uid == "ui-yaml" and y.panels()[0].targets[0].expr == "sum(websocket_connections_active)"


def test_api_wrapper_is_accepted() -> None:
    data = load_text(json.dumps({"dashboard": {"title": "x", "panels": []}, "overwrite": True}))
    assert parse_dashboard(data).title == "x"


def test_every_problem_is_reported_with_its_field_path() -> None:
    bad = {
        "uid": "has spaces!",
        "panels": [
            {"id": 1, "title": "no type"},
            {"id": 2, "type": "stat", "gridPos": {"x": -1, "y": 0, "w": 6, "h": 4}},
            {"id": 3, "type": "stat", "targets": "up"},
        ],
        "templating": {"list": [{"name": "a", "type": "custom"}, {"name": "a", "type": "custom"},
                                {"type": "x"}]},
    }
    with pytest.raises(DashboardError) as e:
        parse_dashboard(bad, "bad.json")
    text = str(e.value)
    assert text.startswith("bad.json: ")
    for part in ("title: is missing", "uid: 'has spaces!' is not a usable uid", "panels[0].type: is missing",
                 "panels[1].gridPos.x: must be a non-negative number", "panels[2].targets: must be a list",
                 "variable 'a' is defined more than once", "templating.list[2].name: is missing"):
        assert part in text, part


def test_broken_json_names_line_and_column() -> None:
    with pytest.raises(DashboardError, match=r"broken.json: not valid JSON: .* line 2 column"):
        load_text('{"title": "x",\n  "panels": [,]}', "broken.json")
    with pytest.raises(DashboardError, match=r"x.yml: not valid YAML at line 3 column 1"):
        load_text("title: x\npanels: [\n", "x.yml")
    with pytest.raises(DashboardError, match="must be a JSON object"):
        load_text("[1, 2]", "list.json")
