"""The UI in a real browser (Debian's Chromium through Playwright) against a running guardia."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.ui.conftest import GuardiaServer, Tab

PAGES = ["/", "/targets", "/alerts", "/rules", "/silences", "/explore", "/explore?expr=up&range=15m",
         "/explore?expr=up&tab=table", "/notifications", "/status", "/dashboards"]


def type_promql(tab: Tab, text: str) -> None:
    """Types into the CodeMirror PromQL editor as a person would, key by key."""
    tab.page.locator(".promql-editor .cm-content").click()
    tab.page.keyboard.type(text, delay=20)
    assert tab.page.locator("textarea[name=expr]").input_value().startswith(text.split("(")[0])


def _name(path: str) -> str:
    return path.strip("/").split("?")[0].replace("/", "_") or "overview"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_loads_without_console_errors(tab: Tab, path: str) -> None:
    resp = tab.goto(path)
    assert resp.status == 200
    assert tab.page.locator("header.top nav a.active").count() == 1
    assert tab.page.locator(".banner").count() == 0, "the bundle banner shows: assets were not served"
    query = path.split("?")[1].replace("&", "_").replace("=", "-") if "?" in path else ""
    tab.shot(_name(path) + ("-" + query if query else ""))
    assert tab.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["/", "/targets", "/alerts", "/explore?expr=up"])
def test_pages_fit_a_phone_in_light_and_dark(browser: Any, guardia_server: GuardiaServer, path: str,
                                              scheme: str) -> None:
    t = Tab(browser, guardia_server.url, width=390, height=844, color_scheme=scheme)
    try:
        t.goto(path)
        overflow = t.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at phone width"
        bg = t.page.evaluate("getComputedStyle(document.body).backgroundColor")
        dark = sum(int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]) < 200
        assert dark == (scheme == "dark"), f"{scheme} scheme shows background {bg}"
        t.shot(f"phone-{scheme}-{_name(path)}")
        assert t.errors == []
    finally:
        t.close()


def test_targets_page_groups_by_job_and_shows_the_down_target(tab: Tab) -> None:
    tab.goto("/targets")
    jobs = tab.page.locator("section[data-job]").evaluate_all("els => els.map(e => e.dataset.job)")
    assert jobs == ["api", "broken", "guardia"]
    broken = tab.page.locator("section[data-job=broken] tr[data-health=down]")
    assert broken.count() == 1
    assert "connect" in broken.inner_text().lower() or "refused" in broken.inner_text().lower()
    api = tab.page.locator("section[data-job=api]")
    assert 'node="127.0.0.1' in api.inner_text()  # the label relabeling added
    assert "__address__" in (api.locator("details").first.text_content() or "")


def test_explore_runs_a_query_and_draws_a_chart(tab: Tab) -> None:
    tab.goto("/explore")
    type_promql(tab, "sum by (job) (up)")
    tab.page.keyboard.press("Escape")
    tab.page.locator("button[type=submit]").click()
    tab.page.wait_for_url("**/explore?expr=sum+by+%28job%29+%28up%29*")
    tab.page.wait_for_selector("[data-explore-result][data-state=ok] canvas", timeout=10_000)
    legend = tab.page.locator(".u-legend").inner_text()
    assert 'job="api"' in legend and 'job="guardia"' in legend
    tab.shot("explore-chart")
    assert tab.errors == []


def test_explore_shows_a_bad_expression_inline(tab: Tab) -> None:
    tab.goto("/explore?expr=sum(rate(up[5m])")
    err = tab.page.locator("[data-explore-error]")
    err.wait_for(state="visible")
    assert "unclosed" in err.inner_text().lower() or "expected" in err.inner_text().lower()


def test_autocompletion_offers_a_metric_name(tab: Tab) -> None:
    tab.goto("/explore")
    type_promql(tab, "http_req")
    options = tab.page.locator(".cm-tooltip-autocomplete li")
    options.first.wait_for(timeout=10_000)
    labels = options.all_inner_texts()
    assert any("http_requests_total" in x for x in labels), labels
    tab.shot("explore-autocomplete")


def test_a_silence_created_in_the_ui_reaches_the_api_and_expiring_it_removes_it(
        tab: Tab, guardia_server: GuardiaServer) -> None:
    tab.goto("/alerts")
    link = tab.page.locator("tr[data-alert=AlwaysFiring] a[data-silence-this]")
    link.click()
    tab.page.wait_for_function("document.documentElement.dataset.ui === 'ready'")
    form = tab.page.locator("form[data-silence-form]")
    names = form.locator("input[name=m_name]").evaluate_all("els => els.map(e => e.value)")
    assert "alertname" in names and "severity" in names
    preview = form.locator("[data-silence-preview]")
    tab.page.wait_for_function("document.querySelector('[data-silence-preview]').dataset.count === '1'")
    assert "AlwaysFiring" in preview.inner_text()
    form.locator("input[name=comment]").fill("maintenance from the UI test")
    form.locator("input[name=created_by]").fill("playwright")
    form.locator("[data-create-silence]").click()
    tab.page.wait_for_url("**/silences?created=*")
    created = tab.page.locator("[data-created]").get_attribute("data-created")
    api = {s["id"]: s for s in guardia_server.client.get("/api/v2/silences").json()}
    assert api[created]["status"]["state"] == "active"
    assert api[created]["comment"] == "maintenance from the UI test"
    assert {m["name"] for m in api[created]["matchers"]} >= {"alertname", "severity"}
    tab.shot("silences-created")
    tab.page.locator(f"button[data-expire='{created}']").click()
    tab.page.wait_for_selector(f"button[data-expire='{created}']", state="detached")
    after = {s["id"]: s for s in guardia_server.client.get("/api/v2/silences").json()}
    assert after[created]["status"]["state"] == "expired"
    assert tab.errors == []


def test_alerts_page_lists_firing_alerts_with_runbook_links(tab: Tab) -> None:
    tab.goto("/alerts")
    row = tab.page.locator("tr[data-alert=AlwaysFiring]")
    assert row.get_attribute("data-state") == "firing"
    assert row.locator("a[data-runbook]").get_attribute("href").endswith("/runbooks/always")
    assert tab.page.locator("tr[data-alert=SlowBurn]").get_attribute("data-state") == "pending"


def test_notifications_page_shows_the_failing_webhook(tab: Tab, guardia_server: GuardiaServer) -> None:
    def failed() -> bool:
        rows = guardia_server.client.get("/notifications").text
        return "failing" in rows
    guardia_server.wait(failed, timeout=40, what="a failed webhook delivery")
    tab.goto("/notifications")
    row = tab.page.locator("tr[data-receiver=ops]")
    assert "failing" in row.inner_text()
    assert tab.page.locator("[data-recent-notifications] tr").count() >= 2
    tab.shot("notifications-failing")


def test_chart_legend_toggles_and_drag_zooms_into_the_url(tab: Tab) -> None:
    tab.goto("/explore?expr=up&range=15m")
    tab.page.wait_for_selector("[data-explore-result][data-state=ok] canvas")
    first = tab.page.locator(".u-legend .u-series").nth(1)
    first.click()
    assert "u-off" in (first.get_attribute("class") or "")
    first.click()
    assert "u-off" not in (first.get_attribute("class") or "")
    box = tab.page.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    tab.page.mouse.move(box["x"] + box["width"] * 0.5, y)
    tab.page.mouse.down()
    tab.page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=5)
    tab.page.mouse.up()
    tab.page.wait_for_url("**end=**")
    assert "range=" in tab.page.url and "range=15m" not in tab.page.url
    # the zoomed window is queried again (it may hold no samples yet on a young server)
    tab.page.wait_for_selector(
        "[data-explore-result][data-state=ok], [data-explore-result][data-state=nodata]")
    assert tab.errors == []
