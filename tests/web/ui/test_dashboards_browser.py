"""Dashboards in Chromium: a grafana.com-style JSON with every supported feature, uploaded
through the UI; a provisioned pre-5.0 dashboard; a YAML one pushed by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
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
