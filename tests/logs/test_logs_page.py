"""The logs page in Debian's Chromium: LogQL completion, volume histogram, lines with levels,
live tail, a metric query, a bad query, and "logs around" an alert.

The screenshots go to tests/logs/artifacts/ (gitignored)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from tests.web.ui.conftest import CHROMIUM, CHROMIUM_ARGS, ui_bundle  # noqa: F401 (fixture)

from guardia.server import GuardiaProcess, ServeOptions
from guardia.web.ui.pages.logs import level_of, nice_step_ns, range_ns

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
NS = 1_000_000_000

CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
alertmanager:
  route: {receiver: team, group_wait: 0s}
  receivers: [{name: team}]
logs:
  retention: 7d
"""

RULES = """
groups:
  - name: app
    interval: 1s
    rules:
      - alert: CheckoutErrors
        expr: vector(1)
        labels: {service: checkout, severity: warning}
"""


def test_level_detection_follows_labels_then_fields_then_words() -> None:
    assert level_of({"level": "ERROR"}, "all fine") == "error"
    assert level_of({"severity": "warning"}, "") == "warn"
    assert level_of({}, 'ts=1 level=debug msg="x"') == "debug"
    assert level_of({}, '{"level":"info","msg":"x"}') == "info"
    assert level_of({}, "2024-01-01 FATAL: disk full") == "critical"
    assert level_of({}, "GET /index.html 200") == "unknown"


def test_range_and_step_are_checked_and_rounded() -> None:
    assert range_ns("1h") == 3600 * NS
    with pytest.raises(ValueError, match="is not a duration: use 5m, 1h"):
        range_ns("an hour")
    assert nice_step_ns(3600 * NS) == 60 * NS
    assert nice_step_ns(300 * NS) == 5 * NS


def _push(base: str, now: int) -> None:
    streams = []
    levels = ["info"] * 6 + ["warn"] * 2 + ["error"] * 2
    for svc in ("checkout", "search"):
        values = []
        for i in range(120):
            lv = levels[i % len(levels)]
            t = now - (120 - i) * 25 * NS
            status = 500 if lv == "error" else 200
            values.append([str(t), f'level={lv} service={svc} msg="request {i}" status={status}'])
        streams.append({"stream": {"job": "app", "service": svc}, "values": values})
    r = httpx.post(f"{base}/loki/api/v1/push", json={"streams": streams})
    assert r.status_code == 204, r.text


async def test_logs_page_in_chromium(tmp_path: Path, ui_bundle: None) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    proc = GuardiaProcess(
        ServeOptions(config_file=str(cfg), listen_address="127.0.0.1:0", storage_path=str(tmp_path / "data"))
    )
    await proc.start()
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://{proc.listen}"
    try:
        await asyncio.to_thread(_push, base, time.time_ns())
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 1000})
                await page.goto(f"{base}/logs")
                assert await page.locator("header nav a", has_text="Logs").count() == 1
                # completion: label names after "{", values after name=", stages after "|"
                box = page.locator("[data-logql]")
                await box.click()
                await box.type("{se")
                await page.wait_for_selector("[data-suggest] li")
                first = page.locator("[data-suggest] li").first
                assert await first.evaluate("l => l.firstChild.textContent") == "service"
                await box.press("Enter")
                await page.wait_for_selector("[data-suggest] li")
                values = await page.locator("[data-suggest] li").evaluate_all(
                    "ls => ls.map(l => l.firstChild.textContent)")
                assert values == ["checkout", "search"]
                await box.press("Tab")
                assert await box.input_value() == '{service="checkout"'
                await box.type("} | lo")
                await page.wait_for_selector("[data-suggest] li")
                await box.press("Enter")
                assert await box.input_value() == '{service="checkout"} | logfmt'
                await page.keyboard.press("Escape")
                await box.press("Control+Enter")
                await page.wait_for_selector("[data-lines] tr")
                rows = page.locator("[data-lines] tr")
                assert await rows.count() == 120
                levels = await rows.evaluate_all("rs => rs.map(r => r.dataset.level)")
                assert (levels.count("error"), levels.count("warn"), levels.count("info")) == (24, 24, 72)
                ts = await rows.evaluate_all("rs => rs.map(r => BigInt(r.dataset.ts))")
                assert ts == sorted(ts, reverse=True)
                common = await page.inner_text("[data-common-labels]")
                assert 'service="checkout"' in common and 'job="app"' in common
                assert await page.get_attribute("[data-total]", "data-total") == "120"
                counts = await page.locator("svg.logs-volume [data-bar]").evaluate_all(
                    "bs => bs.map(b => Number(b.dataset.count))")
                assert sum(counts) == 120
                by_level = await page.locator("svg.logs-volume rect").evaluate_all(
                    "rs => rs.map(r => [r.dataset.level, Number(r.dataset.n)])")
                assert sum(n for lv, n in by_level if lv == "error") == 24
                await page.screenshot(path=str(ARTIFACTS / "logs.png"), full_page=True)

                # live tail: a line pushed now appears on top without reloading
                await page.click("[data-live]")
                await page.wait_for_selector("[data-live-status]:not([hidden])")
                await asyncio.sleep(1.2)
                r = await asyncio.to_thread(httpx.post, f"{base}/loki/api/v1/push", json={"streams": [
                    {"stream": {"job": "app", "service": "checkout"},
                     "values": [[str(time.time_ns()), "level=error msg=\"live one\""]]}]})
                assert r.status_code == 204
                live_row = page.locator("[data-lines] tr[data-live]")
                await live_row.first.wait_for(timeout=15_000)
                assert "live one" in await live_row.first.inner_text()
                assert await live_row.first.get_attribute("data-level") == "error"
                await page.screenshot(path=str(ARTIFACTS / "logs-live.png"), full_page=True)
                await page.click("[data-live]")

                # a metric query is a chart and a table of last values
                q = 'sum by (service) (count_over_time({job="app"} |= "level=error" [5m]))'
                await page.goto(f"{base}/logs?" + httpx.QueryParams({"query": q, "range": "1h"}).__str__())
                await page.wait_for_selector("[data-metric] svg")
                text = await page.inner_text("[data-metric] table")
                assert 'service="checkout"' in text and 'service="search"' in text

                # a bad query is shown with the parser's message, the page still usable
                resp = await page.goto(f"{base}/logs?query=" + "%7Bjob%3D%22app%22")
                assert resp is not None and resp.status == 400
                assert "parse error" in await page.inner_text("[data-logs-error]")

                # from the alerts page to the logs of the alert's service around its start
                await page.goto(f"{base}/alerts")
                link = page.locator('tr[data-alert="CheckoutErrors"] [data-logs-around]')
                await link.wait_for(timeout=15_000)
                await link.click()
                await page.wait_for_selector("[data-lines] tr")
                assert await box.input_value() == '{service="checkout"}'
                await page.screenshot(path=str(ARTIFACTS / "logs-around-alert.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        await proc.shutdown()
