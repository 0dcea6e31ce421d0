"""Value mappings, field overrides and repeats read from Grafana's JSON; bad ones named by
their field path; repeated panels placed as Grafana places them."""

from __future__ import annotations

from typing import Any

import pytest

from guardia.web.ui.dashboards.layout import allowed_repeat, layout
from guardia.web.ui.dashboards.model import DashboardError, load_text, parse_dashboard
from guardia.web.ui.dashboards.templating import Selected
from tests.web.ui.conftest import DASHBOARDS


def dash() -> Any:
    return parse_dashboard(load_text((DASHBOARDS / "fieldconfig.json").read_text()), "fieldconfig.json")


def test_every_generation_of_value_mappings_becomes_one_list_of_rules() -> None:
    d = dash()
    assert list(d.panel(2).mappings) == [  # sorted by their index
        {"type": "value", "value": "1", "text": "UP", "color": "green"},
        {"type": "value", "value": "0", "text": "DOWN", "color": "red"}]
    assert list(d.panel(3).mappings) == [{"type": "value", "value": "1", "text": "Alive"}]
    assert list(d.panel(4).mappings) == [{"type": "value", "value": "1", "text": "Running"}]
    assert [m["type"] for m in d.panel(5).mappings] == ["range", "regex"]
    assert d.panel(5).mappings[0]["from"] == 0 and d.panel(5).mappings[0]["to"] == 50
    assert list(d.panel(6).mappings) == [{"type": "special", "match": "null+nan", "text": "n/a"}]


def test_overrides_keep_what_is_drawn_and_name_what_is_not() -> None:
    p = dash().panel(1)
    assert [o["matcher"]["id"] for o in p.overrides] == ["byName", "byRegexp", "byFrameRefID", "byValue"]
    assert [o["matcher"] for o in p.overrides[:3]] == [
        {"id": "byName", "options": "/login"}, {"id": "byRegexp", "options": "/api/prod.*"},
        {"id": "byFrameRefID", "options": "B"}]
    assert p.overrides[0]["properties"] == {"displayName": "Sign-in", "color": "red"}
    assert p.overrides[1]["properties"] == {"hidden": True, "hideLegend": True}
    assert p.overrides[2]["properties"] == {"color": "purple", "negativeY": True, "axisPlacement": "right"}
    by_value = {"id": "byValue", "options": {"reducer": "max", "op": "gte", "value": 1e9}}
    assert p.overrides[3] == {"matcher": by_value, "properties": {"color": "orange"}}
    assert p.ignored == ("override property 'custom.drawStyle'",)
    config = p.client_config()
    assert config["overrides"] == list(p.overrides) and config["mappings"] == []


def test_bad_mappings_overrides_and_repeats_are_named_by_path() -> None:
    bad = {"title": "bad", "panels": [
        {"id": 1, "type": "stat", "fieldConfig": {"defaults": {"mappings": [
            {"type": "colour", "options": {}},
            {"type": "range", "options": {"from": "low", "to": 3}},
            {"type": "regex", "options": {"pattern": "(unclosed"}},
            {"type": "special", "options": {"match": "zero"}}]},
            "overrides": [{"matcher": "byName"}, {"matcher": {"id": "byRegexp", "options": "["}},
                          {"matcher": {"id": "byName", "options": "x"}, "properties": [{"value": 1}]}]}},
        {"id": 2, "type": "stat", "repeat": "host"},
        {"id": 4, "type": "stat", "options": {"graphMode": "bars"}, "fieldConfig": {
            "defaults": {"custom": {"axisPlacement": "top"}},
            "overrides": [
                {"matcher": {"id": "byValue", "options": {"reducer": "median", "op": "gte", "value": 1}}},
                {"matcher": {"id": "byValue", "options": {"reducer": "max", "op": ">=", "value": 1}}},
                {"matcher": {"id": "byValue", "options": {"reducer": "max", "op": "gt"}}},
                {"matcher": {"id": "byValue", "options": "max > 1"}},
                {"matcher": {"id": "byName", "options": "x"},
                 "properties": [{"id": "custom.axisPlacement", "value": "middle"}]}]}},
        {"id": 3, "type": "row", "title": "R", "repeat": "dc", "panels": []},
    ]}
    with pytest.raises(DashboardError) as e:
        parse_dashboard(bad, "bad.json")
    text = str(e.value)
    for part in (
        "panels[0].fieldConfig.defaults.mappings[0].type: 'colour' is not a value mapping type",
        "panels[0].fieldConfig.defaults.mappings[1].options.from: must be a number, not 'low'",
        "panels[0].fieldConfig.defaults.mappings[2].options.pattern: '(unclosed' is not a regular expression",
        "panels[0].fieldConfig.defaults.mappings[3].options.match: 'zero' is not a special value",
        "panels[0].fieldConfig.overrides[0].matcher: must be an object with an id",
        "panels[0].fieldConfig.overrides[1].matcher.options: '[' is not a regular expression",
        "panels[0].fieldConfig.overrides[2].properties[0]: must be an object with an id",
        "panel 2 ('').repeat: repeats by 'host', which is not a template variable",
        "row 'R'.repeat: repeats by 'dc', which is not a template variable",
        "panels[2].options.graphMode: 'bars' is not a graph mode: use area, line or none",
        "panels[2].fieldConfig.defaults.custom.axisPlacement: 'top' is not an axis placement",
        "panels[2].fieldConfig.overrides[0].matcher.options.reducer: 'median' is not a reducer",
        "panels[2].fieldConfig.overrides[1].matcher.options.op: '>=' is not a comparison: use one of eq, gt,",
        "panels[2].fieldConfig.overrides[2].matcher.options.value: is missing",
        "panels[2].fieldConfig.overrides[3].matcher.options: must be an object with reducer, op and value",
        "panels[2].fieldConfig.overrides[4].properties[0].value: 'middle' is not an axis placement",
    ):
        assert part in text, part


def test_repeats_are_placed_as_grafana_places_them() -> None:
    d = dash()
    scope = {"job": Selected(("api",)), "handler": Selected(("/a", "/b", "/c"), multi=True, is_all=True)}
    top, *rows = layout(d, scope)
    where = {v.dom_id: (v.title, v.grid.x, v.grid.y, v.grid.w, dict(v.repeat)) for v in top.panels}
    # horizontal, two a row (maxPerRow), sharing the width; what was below moves down a row
    assert where["8"] == ("Rate of /a", 0, 14, 12, {"handler": "/a"})
    assert where["8-1"] == ("Rate of /b", 12, 14, 12, {"handler": "/b"})
    assert where["8-2"] == ("Rate of /c", 0, 20, 12, {"handler": "/c"})
    assert where["9"][2] == 26
    # vertical: one under another, same column
    assert [where[k][1:3] for k in ("11", "11-1", "11-2")] == [(12, 26), (12, 30), (12, 34)]
    # a repeated row: one section per value, its panels with that value
    assert [r.title for r in rows] == ["Handler /a", "Handler /b", "Handler /c"]
    assert [(v.dom_id, v.title) for r in rows for v in r.panels] == [
        ("10", "Requests to /a"), ("10-1", "Requests to /b"), ("10-2", "Requests to /c")]
    # one value selected: one copy, nothing moves
    one = layout(d, {**scope, "handler": Selected(("/a",))})[0]
    assert [v.dom_id for v in one.panels if v.panel.id == 8] == ["8"]
    # a panel request may name only its own repeat variable and a selected value
    assert allowed_repeat(d, d.panel(10), scope, {"handler": "/b"}) == {"handler": "/b"}
    assert allowed_repeat(d, d.panel(2), scope, {"handler": "/b"}) == "panel 2 is not repeated by $handler"
    refused = allowed_repeat(d, d.panel(8), scope, {"handler": "/x"})
    assert refused == "'/x' is not a selected value of $handler"
