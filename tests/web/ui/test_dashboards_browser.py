"""Dashboards in Chromium: a grafana.com-style JSON with every supported feature, uploaded
through the UI; a provisioned pre-5.0 dashboard; a YAML one pushed by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from tests.web.ui.conftest import DASHBOARDS, REPO, GuardiaServer, Tab

EXPECTED = {
    "1": "ok", "2": "ok", "3": "ok", "4": "ok", "5": "ok", "6": "ok", "8": "ok",
    "9": "nodata", "10": "error", "11": "unsupported", "13": "ok",
}


def panel_states(tab: Tab) -> dict[str, dict[str, Any]]:
    tab.page.wait_for_function(
        "document.querySelectorAll('[data-panel-id][data-state=loading]').length === 0", timeout=30_000)
    return tab.page.eval_on_selector_all(
        "[data-panel-id]",
        "els => Object.fromEntries(els.map(e => [e.dataset.panelId, "
        "{state: e.dataset.state, missing: e.dataset.missing, text: e.innerText}]))")


def upload(tab: Tab, name: str) -> None:
    tab.goto("/dashboards")
    tab.page.set_input_files("form[data-dashboard-import] input[type=file]", str(DASHBOARDS / name))
    tab.page.locator("form[data-dashboard-import] [name=overwrite]").check()
    tab.page.locator("form[data-dashboard-import] button[type=submit]").click()
    tab.page.wait_for_url("**/d/**")
    tab.page.wait_for_function("document.documentElement.dataset.ui === 'ready'")


def test_uploaded_grafana_dashboard_renders_every_panel_with_its_state(
        tab: Tab, guardia_server: GuardiaServer) -> None:
    upload(tab, "everything.json")
    assert "/d/ui-everything/" in tab.page.url
    states = panel_states(tab)
    assert {k: v["state"] for k, v in states.items()} == EXPECTED
    assert states["9"]["missing"] == "payments_failed_total,payments_total"
    assert "payments_failed_total" in states["9"]["text"]
    assert "heatmap" in states["11"]["text"]
    assert "unclosed" in states["10"]["text"].lower() or "expected" in states["10"]["text"].lower()
    # charts drawn with uPlot; the text panel's markdown rendered, its script tag shown as text
    assert tab.page.locator("[data-panel-id='1'] canvas").count() == 1
    assert tab.page.locator("[data-panel-id='6'] h3", has_text="Notes").count() == 1
    assert tab.page.locator("[data-panel-id='6'] a[href='https://example.org/runbook']").count() == 1
    assert tab.page.locator("[data-panel-id='6'] .markdown script").count() == 0
    # variables: options from the store, the "All" selection, the legend from legendFormat
    handlers = tab.page.locator("select[name=var-handler] option").all_inner_texts()
    assert handlers == ["All", "/api/orders", "/api/products", "/login"]
    statuses = tab.page.locator("select[name=var-status] option").all_inner_texts()
    assert statuses == ["All", "200", "500"]
    assert set(tab.page.locator("[data-panel-id='1'] .u-legend .u-label").all_inner_texts()) >= {
        "/api/orders", "/api/products", "/login"}
    tab.shot("dashboard-everything")
    assert tab.errors == []


def test_variables_and_time_range_live_in_the_url(tab: Tab, guardia_server: GuardiaServer) -> None:
    upload(tab, "everything.json")
    tab.page.locator("select[name=var-handler]").select_option(["/login"])
    tab.page.wait_for_url("**var-handler=%2Flogin**")
    states = panel_states(tab)
    assert states["1"]["state"] == "ok"
    assert tab.page.locator("[data-panel-id='1'] .u-legend .u-label").all_inner_texts()[1:] == ["/login"]
    # a shared link with Grafana's parameters opens the same view
    url = "/d/ui-everything?var-handler=/api/orders&var-job=api&from=now-5m&to=now&refresh=10s"
    tab.goto(url)
    states = panel_states(tab)
    assert states["1"]["state"] == "ok"
    assert tab.page.locator("[data-panel-id='1'] .u-legend .u-label").all_inner_texts()[1:] == ["/api/orders"]
    assert tab.page.locator("[data-dashboard]").get_attribute("data-refresh") == "10s"
    tab.page.locator("select[name=from]").select_option("now-1h")
    tab.page.wait_for_url("**from=now-1h**")
    assert "var-handler=%2Fapi%2Forders" in tab.page.url
    assert tab.errors == []


def test_provisioned_legacy_rows_dashboard_renders(tab: Tab) -> None:
    tab.goto("/d/ui-legacy")
    states = panel_states(tab)
    assert {k: v["state"] for k, v in states.items()} == {"1": "ok", "2": "ok"}
    assert tab.page.locator(".dash-row-title", has_text="Traffic").count() == 1
    tab.shot("dashboard-legacy-rows")


def test_cli_import_pushes_a_yaml_dashboard(tab: Tab, guardia_server: GuardiaServer) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "guardia.cli.main", "dashboards", "import", "--url", guardia_server.url,
         "--overwrite", str(DASHBOARDS / "yaml-dashboard.yml")],
        env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/d/ui-yaml/" in out.stdout
    tab.goto("/d/ui-yaml")
    assert {k: v["state"] for k, v in panel_states(tab).items()} == {"1": "ok"}
    hits = guardia_server.client.get("/api/search", params={"query": "YAML"}).json()
    assert [h["uid"] for h in hits] == ["ui-yaml"]


def test_built_in_dashboards_render_over_the_seed_metric_names(tab: Tab) -> None:
    tab.goto("/d/guardia-api")
    states = panel_states(tab)
    assert all(s["state"] == "ok" for s in states.values()), states
    tab.shot("dashboard-builtin-api")
    tab.goto("/d/guardia-self")
    states = panel_states(tab)
    assert [k for k, s in states.items() if s["state"] == "error"] == []
    tab.shot("dashboard-builtin-guardia")
    tab.goto("/d/guardia-postgresql")
    states = panel_states(tab)
    # no postgres_exporter in this test: the panels name what is missing instead of drawing nothing
    assert all(s["state"] == "nodata" for s in states.values()), states
    assert "pg_up" in states["1"]["missing"]
    # the rest: every panel's queries run (no error state), without their exporters here
    for uid in ("guardia-host", "guardia-websocket", "guardia-redis", "guardia-nginx", "guardia-probes"):
        tab.goto(f"/d/{uid}")
        states = panel_states(tab)
        assert states and [k for k, s in states.items() if s["state"] == "error"] == [], (uid, states)
        tab.shot(f"dashboard-builtin-{uid.removeprefix('guardia-')}")
    assert tab.errors == []


def test_dashboard_at_phone_width(browser: Any, guardia_server: GuardiaServer) -> None:
    t = Tab(browser, guardia_server.url, width=390, height=844, color_scheme="dark")
    try:
        t.goto("/d/guardia-api")
        panel_states(t)
        overflow = t.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        t.shot("phone-dark-dashboard-api")
        assert t.errors == []
    finally:
        t.close()


def legend_colors(tab: Tab, panel: str) -> dict[str, str]:
    """Each legend entry of a chart panel and its marker's colour."""
    return tab.page.eval_on_selector_all(
        f"[data-panel-id='{panel}'] .u-legend .u-series",
        "els => Object.fromEntries(els.slice(1).map(e => [e.querySelector('.u-label').innerText, "
        "getComputedStyle(e.querySelector('.u-marker')).borderColor]))")


def test_overrides_value_mappings_and_repeats_from_grafana_json(
        tab: Tab, guardia_server: GuardiaServer) -> None:
    upload(tab, "fieldconfig.json")
    states = panel_states(tab)
    handlers = ["/api/orders", "/api/products", "/login"]
    assert {k: v["state"] for k, v in states.items()} == {
        k: "ok" for k in ("1", "2", "3", "4", "5", "6", "7", "8", "8-1", "8-2", "9", "11", "11-1", "11-2",
                          "10", "10-1", "10-2")}
    # overrides: renamed and coloured by name, hidden by regexp, coloured by query (refId)
    colors = legend_colors(tab, "1")
    assert set(colors) == {"/api/orders", "Sign-in", "errors"}
    assert colors["Sign-in"] == "rgb(242, 73, 92)" and colors["errors"] == "rgb(184, 119, 217)"
    ignored = tab.page.locator("[data-panel-id='1'] [data-ignored]").get_attribute("title") or ""
    assert "custom.drawStyle" in ignored and "axisPlacement" not in ignored and "byValue" not in ignored
    # the errors query (refId B) is placed on a right axis; byValue (max >= 1e9) matches nothing
    axes = tab.page.locator("[data-panel-id='1']")
    assert axes.get_attribute("data-axes") == "left right"
    assert axes.get_attribute("data-right-series") == "errors"
    # value mappings: Grafana 8+ value, Grafana 7, singlestat valueMaps, range, regex, special
    assert states["2"]["text"].split("\n")[-1] == "UP"
    assert tab.page.locator("[data-panel-id='2'] .stat").evaluate(
        "e => getComputedStyle(e).backgroundColor") == "rgb(115, 191, 105)"  # the mapping's green
    assert states["3"]["text"].endswith("Alive") and states["4"]["text"].endswith("Running")
    assert "Low" in states["5"]["text"] and "OK" in states["5"]["text"]
    assert states["6"]["text"].endswith("n/a")
    # a table's columns renamed, their cells mapped, the value formatted by an override on "Value"
    assert tab.page.locator("[data-panel-id='7'] th").all_inner_texts() == ["Endpoint", "status", "Value"]
    assert tab.page.locator("[data-panel-id='7'] td", has_text="Server error").count() == 3
    assert all(v.endswith(" req") for v in tab.page.locator("[data-panel-id='7'] td.num").all_inner_texts())
    # repeats: a copy per handler, each with its own value; a row per handler
    titles = {k: tab.page.locator(f"[data-panel-id='{k}'] h3").inner_text() for k in ("8", "8-1", "8-2")}
    assert sorted(titles.values()) == [f"Rate of {h}" for h in handlers]
    for k, title in titles.items():
        assert tab.page.locator(f"[data-panel-id='{k}'] .u-legend .u-label").all_inner_texts()[1:] == [
            title.removeprefix("Rate of ")]
    rows = tab.page.locator(".dash-row-title").all_inner_texts()
    assert [r.split(" (")[0].strip("▾ ") for r in rows] == [f"Handler {h}" for h in handlers]
    boxes = [tab.page.locator(f"[data-panel-id='{k}']").bounding_box() for k in ("11", "11-1", "11-2")]
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"] and boxes[0]["x"] == boxes[2]["x"]  # type: ignore[index]
    tab.shot("dashboard-fieldconfig")
    # one handler selected: one copy
    tab.goto("/d/ui-fieldconfig?var-handler=/login")
    states = panel_states(tab)
    assert "8-1" not in states and states["8"]["state"] == "ok"
    assert states["10"]["text"].startswith("Requests to /login")
    assert tab.errors == []
    # a panel request for a value the view does not select is refused
    r = guardia_server.client.get("/api/ui/dashboards/ui-fieldconfig/panels/8",
                                  params={"var-handler": "/login", "repeat-handler": "/api/orders"})
    assert r.json() == {"state": "error", "error": "'/api/orders' is not a selected value of $handler"}


def batch(guardia_server: GuardiaServer, uid: str, items: Any, **params: str) -> Any:
    import json

    return guardia_server.client.get(f"/api/ui/dashboards/{uid}/panels",
                                     params={**params, "panels": json.dumps(items)})


def test_batch_request_streams_one_line_per_panel_as_the_single_requests_answer(
        tab: Tab, guardia_server: GuardiaServer) -> None:
    """The page asks for all its panels in one request; each line is what the panel's own
    request answers (same state, series and values), with the panel element's key."""
    import json

    upload(tab, "fieldconfig.json")
    page_now = tab.page.locator("[data-dashboard]").get_attribute("data-now") or ""
    keys = tab.page.eval_on_selector_all(
        "[data-panel-id][data-state]:not([data-state=unsupported])",
        "els => els.map(e => [e.dataset.panelId, e.dataset.repeat || '{}', e.dataset.panelType])")
    items = [{"key": k, "id": int(k.split("-")[0]), "repeat": json.loads(rep)} for k, rep, _ in keys]
    queried = [k for k, _, kind in keys if kind != "text"]
    assert any(it["repeat"] for it in items)  # repeated copies are in the batch too
    r = batch(guardia_server, "ui-fieldconfig", [*items, {"key": "x", "id": 999}], now=page_now)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines()]
    got = {x.pop("key"): x for x in lines}
    assert sorted(got) == sorted([it["key"] for it in items] + ["x"])
    assert got["x"] == {"state": "error", "error": "dashboard 'ui-fieldconfig' has no panel 999"}
    for it in items:
        params = {"now": page_now, **{f"repeat-{k}": v for k, v in it["repeat"].items()}}
        one = guardia_server.client.get(f"/api/ui/dashboards/ui-fieldconfig/panels/{it['id']}",
                                        params=params).json()
        b = got[it["key"]]
        for d in (one, b):
            d.pop("seconds", None)
        assert b == one, it
    assert sum(1 for x in got.values() if x["state"] == "ok") >= 5
    # the browser's navigation to the page started its panels: batches of that view take them
    assert r.headers["x-guardia-prefetched"] == str(len(queried)) and len(queried) >= 5
    for headers, taken in (({}, 0), ({"Sec-Fetch-Dest": "document"}, len(queried))):
        # a script fetching the page starts nothing; a browser's navigation does
        time.sleep(1.1)  # a view of its own (pages name their now to the second)
        page = guardia_server.client.get("/d/ui-fieldconfig", headers=headers)
        r = batch(guardia_server, "ui-fieldconfig", items,
                  now=page.text.split('data-now="', 1)[1].split('"', 1)[0])
        assert r.headers["x-guardia-prefetched"] == str(taken), headers
        again = {x.pop("key"): x for x in map(json.loads, r.text.splitlines())}
        assert {k: v["state"] for k, v in again.items()} == {k: got[k]["state"] for k in again}
    # a copy for a value the view does not select is that line's error
    r = batch(guardia_server, "ui-fieldconfig", [{"key": "8-9", "id": 8, "repeat": {"handler": "/nope"}}],
              **{"var-handler": "/login"})
    assert [json.loads(x) for x in r.text.splitlines()] == [
        {"key": "8-9", "state": "error", "error": "'/nope' is not a selected value of $handler"}]
    # bad batches are refused whole, saying what a batch looks like
    for bad in ("[{\"id\": \"3\"}]", "{}", "not json", json.dumps([{"id": 3, "repeat": {"a": 1}}])):
        r = guardia_server.client.get("/api/ui/dashboards/ui-fieldconfig/panels", params={"panels": bad})
        assert r.status_code == 400, bad
        assert "panels" in r.json()["error"] and "key" in r.json()["error"], r.json()
    r = batch(guardia_server, "no-such-dashboard", [{"key": "1", "id": 1}])
    assert r.status_code == 404


def test_stat_sparklines_by_value_overrides_and_axis_placement(tab: Tab) -> None:
    """Grafana's options.graphMode (area, line, none), the byValue override matcher, and
    custom.axisPlacement (auto, left, right, hidden; as a default and as an override)."""
    upload(tab, "panel-options.json")
    states = panel_states(tab)
    assert {k: v["state"] for k, v in states.items()} == {str(i): "ok" for i in range(1, 9)}

    def sparklines(panel: str) -> list[dict[str, Any]]:
        return tab.page.eval_on_selector_all(
            f"[data-panel-id='{panel}'] svg.sparkline",
            "els => els.map(e => ({mode: e.dataset.graphMode, points: Number(e.dataset.points), "
            "area: !!e.querySelector('.spark-area'), "
            "stroke: e.querySelector('.spark-line').getAttribute('stroke'), "
            "height: e.getBoundingClientRect().height}))")

    # area (Grafana's default when graphMode is absent): a line with its area, the value's colour
    (area,) = sparklines("1")
    assert area["mode"] == "area" and area["area"] and area["points"] >= 10 and area["height"] > 5
    assert area["stroke"] == "#5794f2"  # the threshold's blue
    assert tab.page.locator("[data-panel-id='1'] .stat-value").evaluate(
        "e => getComputedStyle(e).color") == "rgb(87, 148, 242)"
    assert sparklines("2") == []  # graphMode none
    (line,) = sparklines("3")
    assert line["mode"] == "line" and not line["area"] and line["stroke"] == "#fff"  # on its background
    assert len(sparklines("4")) == 2  # one per series, a flat one included
    # byValue: the series whose max is >= 10 turns orange; the one whose last value is < 10
    # goes to a right axis
    colors = legend_colors(tab, "5")
    assert colors["fifty"] == "rgb(255, 152, 48)" and colors["five"] != colors["fifty"]
    p5 = tab.page.locator("[data-panel-id='5']")
    assert p5.get_attribute("data-axes") == "left right" and p5.get_attribute("data-right-series") == "five"
    # axis placement as the panel's default: hidden draws no axis; right puts every series on
    # the right but the one an override places left
    assert tab.page.locator("[data-panel-id='6']").get_attribute("data-axes") == ""
    p7 = tab.page.locator("[data-panel-id='7']")
    assert p7.get_attribute("data-axes") == "left right" and p7.get_attribute("data-right-series") == "one"
    # a table row matched by value gets the override's decimals; the other keeps its own
    cells = sorted(tab.page.locator("[data-panel-id='8'] td.num").all_inner_texts())
    assert cells == ["7.5", "70.129"]  # (without the override: 70.1)
    tab.shot("dashboard-panel-options")
    assert tab.errors == []


def test_auto_refresh_asks_for_later_data(tab: Tab, guardia_server: GuardiaServer) -> None:
    """One load is one batch request naming the page's now; a refresh names a later one."""
    asked: list[int] = []
    tab.page.on("request", lambda r: asked.append(int(r.url.split("now=")[1].split("&")[0]))
                if "/panels" in r.url and "now=" in r.url else None)
    tab.goto("/d/guardia-api?refresh=5s")
    page_now = int(tab.page.locator("[data-dashboard]").get_attribute("data-now") or 0)
    panel_states(tab)
    tab.page.wait_for_timeout(6_000)
    assert asked[0] == page_now and max(asked) >= page_now + 5_000, (page_now, asked)
    assert asked.count(page_now) == 1  # every panel of the first load in one request
    assert all(s["state"] == "ok" for s in panel_states(tab).values())
    assert tab.errors == []
