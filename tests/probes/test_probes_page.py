"""The operators' ``/probes`` page: why a probe fails, without writing a query.

``arrange`` is checked directly (order, filters, selectors that survive quotes in names); the
page itself in Debian's Chromium against a real ``guardia serve`` probing local servers: a
target answering 503, one refusing connections, one healthy and a heartbeat that never
reported.  The screenshot is kept in tests/probes/artifacts/.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from guardia.web.probe_pages import arrange
from tests.probes.conftest import Targets
from tests.probes.servers import Handler
from tests.probes.test_status_browser import CHROMIUM, wait_for
from tests.test_serve import Serve

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _monitor(name: str, status: str, *targets: tuple[str, str, str]) -> dict[str, Any]:
    return {"name": name, "description": "", "module": "http_2xx", "kind": "http", "interval": 30.0,
            "status": status,
            "targets": [{"target": t, "status": st, "reason": r, "lastProbe": 1.0, "lastDurationSeconds": 0.1,
                         "since": 1.0, "failures": 0, "events": []} for t, st, r in targets]}


def test_worst_first_filters_and_quoted_selectors() -> None:
    monitors = [
        _monitor("web", "up", ("http://a", "up", "")),
        _monitor('say "hi"', "down", ("http://b", "up", ""), ('http://c/"x"', "down", "connection refused")),
        _monitor("api", "pending", ("http://d", "pending", "HTTP status 503")),
    ]
    out = arrange(monitors, "", False, "/g")
    assert [m["name"] for m in out] == ['say "hi"', "api", "web"]
    assert [t["target"] for t in out[0]["targets"]] == ['http://c/"x"', "http://b"]  # failing target first
    assert out[0]["every"] == "every 30s"
    expr = parse_qs(urlsplit(out[0]["targets"][0]["explore"]).query)["expr"][0]
    assert expr == 'probe_success{job="say \\"hi\\"",instance="http://c/\\"x\\""}'
    assert out[0]["targets"][0]["explore"].startswith("/g/explore?")
    debug = parse_qs(urlsplit(out[0]["targets"][0]["debug"]).query)
    assert debug == {"target": ['http://c/"x"'], "module": ["http_2xx"], "debug": ["true"]}
    assert [m["name"] for m in arrange(monitors, "", True, "")] == ['say "hi"', "api"]
    # reasons are searched too
    assert [m["name"] for m in arrange(monitors, "REFUSED", False, "")] == ['say "hi"']
    assert arrange(monitors, "nothing-like-this", False, "") == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connections are refused


CONFIG = """
scrape_configs: []
probes:
  - {{name: shop, module: http_2xx, targets: ["http://{http}/flaky?id=page-shop"], interval: 1s,
     description: "Online shop"}}
  - {{name: healthy, module: http_2xx, targets: ["http://{http}/flaky?id=page-ok"], interval: 1s}}
  - {{name: gone, module: tcp_connect, targets: ["127.0.0.1:{closed}"], interval: 1s}}
  - name: backup
    heartbeat: {{token: page-backup-token-1, period: 1h, grace: 1m}}
"""


@pytest.fixture
def served(tmp_path: Path, targets: Targets) -> Iterator[Serve]:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.format(http=targets.http, closed=_closed_port()))
    Handler.failing.add("page-shop")
    s = Serve(tmp_path, "--config.file", str(cfg))
    try:
        s.wait_ready()
        yield s
    finally:
        Handler.failing.discard("page-shop")
        if s.proc.poll() is None:
            s.stop()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_probes_page_in_chromium(served: Serve) -> None:
    from playwright.sync_api import sync_playwright

    def states() -> dict[str, str]:
        data = httpx.get(f"{served.url}/api/v1/probes").json()["data"]
        return {m["name"]: m["status"] for m in data}

    wait_for("every probe ran", lambda: states() == {"shop": "down", "healthy": "up", "gone": "down",
                                                     "backup": "up"})  # a heartbeat starts in its grace
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            page = b.new_context(viewport={"width": 1200, "height": 900}).new_page()
            page.goto(f"{served.url}/probes")
            assert page.title().startswith("Probes")
            assert page.locator("nav a[href$='/probes']").count() == 1  # listed in the top bar
            order = page.eval_on_selector_all("section[data-probe]", "els => els.map(e => e.dataset.probe)")
            assert order.index("healthy") > max(order.index("shop"), order.index("gone"))  # failing first
            shop = page.locator("#probe-shop")
            assert shop.get_attribute("data-state") == "down"
            reason = shop.locator(".probe-reason").inner_text()
            assert "HTTP status 503 is not one of the valid status codes" in reason
            assert "Online shop" in shop.inner_text()
            assert "refused" in page.locator("#probe-gone .probe-reason").inner_text().lower()
            assert page.locator("#probe-healthy .probe-reason").count() == 0
            assert "expects a report every 1h (+1m grace)" in page.locator("#probe-backup h2").inner_text()
            assert page.locator("#probe-backup a.probe-debug").count() == 0  # nothing to probe for a push
            page.screenshot(path=str(ARTIFACTS / "probes-page.png"), full_page=True)

            # the "probe now" link runs the module once and explains the failure, as /probe?debug=true does
            href = shop.locator("a.probe-debug").get_attribute("href")
            assert href is not None
            debug = httpx.get(f"{served.url}{href}").text
            assert "Probe failed: HTTP status 503" in debug and "probe_success 0" in debug

            page.check("input[name=failing]")
            page.click("form.toolbar button")
            shown = page.eval_on_selector_all("section[data-probe]", "els => els.map(e => e.dataset.probe)")
            assert "healthy" not in shown and {"shop", "gone"} <= set(shown)

            # fixed: the page follows the probe back to up
            Handler.failing.discard("page-shop")
            def shop_up() -> bool:
                page.goto(f"{served.url}/probes?search=shop")
                return page.locator("#probe-shop").get_attribute("data-state") == "up"
            wait_for("shop back up on the page", shop_up)
            events = page.locator("#probe-shop .probe-events").text_content() or ""
            assert "down" in events  # the change is kept
        finally:
            b.close()
