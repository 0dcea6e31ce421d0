"""SLOs in `guardia serve`: their rules in /api/v1/rules like any rule, /api/v1/slos, an SLO on
metrics nobody exposes refused with the reason, budgets as series."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import numpy as np

from guardia.model import Labels
from guardia.server import GuardiaProcess, ServeOptions
from guardia.storage.tsdb import TSDB
from tests.slo.synth import MIN, Traffic

DATA = Path(__file__).parent / "data"

CONFIG = f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
slos:
  - file: {DATA / 'sloth_api.yml'}
  - name: checkout
    service: shop
    objective: 99.5
    window: month
    indicator:
      ratio:
        errors: shop_orders_total{{result="failed"}}
        total: shop_orders_total
"""


def seed(path: Path) -> None:
    """Two hours of API traffic ending now, with a 10% error burst 30 minutes ago."""
    now = int(time.time() * 1000)
    tr = Traffic.steady(2).burst(at_min=90, minutes=10, ratio=0.10)
    tr.start_ms = now - now % MIN - 2 * 60 * MIN
    err, total = tr.counters()
    db = TSDB.open(path)
    try:
        app = db.appender()
        for status, values in (("500", err), ("200", total - err)):
            ref = app.ref(Labels({"__name__": "http_requests_total", "job": "api", "status": status}))
            for t, v in zip(tr.times().tolist(), np.asarray(values).tolist(), strict=True):
                app.append(ref, t, v)
        app.commit()
    finally:
        db.close()


async def test_slos_are_served_with_their_rules_budget_and_problems(tmp_path: Path) -> None:
    seed(tmp_path / "data")
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    proc = GuardiaProcess(ServeOptions(config_file=str(cfg), listen_address="127.0.0.1:0",
                                       storage_path=str(tmp_path / "data")))
    await proc.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}", timeout=30) as c:
            rules = (await c.get("/api/v1/rules")).json()["data"]["groups"]
            (group,) = [g for g in rules if g["name"] == "slo:api:requests-availability"]
            kinds = {r["type"] for r in group["rules"]}
            assert kinds == {"recording", "alerting"}
            assert group["file"].endswith("sloth_api.yml")
            assert not any(g["name"].startswith("slo:shop") for g in rules)

            for _ in range(100):
                slos = (await c.get("/api/v1/slos")).json()["data"]
                api = next(d for d in slos if d["service"] == "api")
                if api["status"] and api["status"]["burnRates"]["1h"] is not None:
                    break
                await asyncio.sleep(0.2)
            assert api["state"] == "ok" and api["window"] == "30d" and api["format"] == "sloth"
            # 600 errors of 72,000 requests: 0.83%, far over a 0.1% budget
            assert api["status"]["errorBudgetRemaining"] < 0
            assert api["status"]["burnRates"]["1h"] > 14.4

            shop = next(d for d in slos if d["service"] == "shop")
            assert shop["state"] == "rejected" and shop["window"] == "month"
            assert "no series named shop_orders_total" in shop["problems"][0]
            # the least budget first; rejected ones last
            assert [d["service"] for d in slos] == ["api", "shop"]

            one = await c.get("/api/v1/slos/api/requests-availability")
            assert one.status_code == 200 and one.json()["data"]["name"] == "requests-availability"
            missing = await c.get("/api/v1/slos/nope")
            assert missing.status_code == 404
            assert "known: api/requests-availability, shop/checkout" in missing.json()["error"]

            q = await c.get("/api/v1/query", params={"query": "slo:error_budget_remaining:ratio"})
            (sample,) = q.json()["data"]["result"]
            assert sample["metric"]["slo_service"] == "api"

            page = (await c.get("/slos")).text
            assert page.index('data-slo="api/requests-availability"') < page.index('data-slo="shop/checkout"')
            detail = await c.get("/slos/api/requests-availability")
            assert detail.status_code == 200
            assert "Error budget left this period" in detail.text and "<svg" in detail.text
            assert (await c.get("/slos/shop/nothing")).status_code == 404
            await browse(f"http://{proc.listen}", tmp_path)
    finally:
        await proc.shutdown()


async def browse(base: str, out: Path) -> None:
    """The pages in Debian's Chromium: the list links to the SLO page, which shows its charts."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await page.goto(f"{base}/slos")
            rows = await page.locator("tr[data-slo]").evaluate_all("rs => rs.map(r => r.dataset.slo)")
            assert rows == ["api/requests-availability", "shop/checkout"]
            await page.click("text=requests-availability")
            await page.wait_for_selector("svg.slo-chart")
            assert await page.locator("svg.slo-chart").count() == 2
            assert "99.9% over 30d" in await page.inner_text("body")
            await page.screenshot(path=str(out / "slo.png"), full_page=True)
            await page.goto(f"{base}/slos/shop/checkout")
            assert "no series named shop_orders_total" in await page.inner_text("body")
        finally:
            await browser.close()
