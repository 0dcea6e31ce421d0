"""The HTML report in headless Chromium (JavaScript off) and the PDF turned into PNG pages
with poppler's ``pdftoppm``; screenshots and pages are kept in tests/reports/artifacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from guardia.promql import Engine
from guardia.reports import EngineSource, Report, ReportRequest, build_report, render
from guardia.reports.html import render_html
from tests.reports import synth

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def report() -> Report:
    store = synth.load_memory(synth.build())
    return build_report(EngineSource(Engine(), store), ReportRequest(synth.WINDOW, synth.BASELINE, synth.END))


def test_html_has_no_script_and_links_every_figure_to_explore(report: Report) -> None:
    html = render_html(report, "http://guardia.example:9090")
    assert "<script" not in html.lower()
    hrefs = re.findall(r'href="(http://guardia\.example:9090/explore\?[^"]+)"', html)
    exprs = {parse_qs(urlparse(h.replace("&amp;", "&")).query)["expr"][0] for h in hrefs}
    assert {f.query for f in report.figures()} <= exprs
    assert html.count('data-figure="') == len(report.figures())
    assert html.count("<svg") >= 5  # availability timeline and the per-interval charts


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@needs_chromium
def test_html_in_chromium_without_javascript(report: Report, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 1400})
    page = ctx.new_page()
    page.route("**/*", lambda route: route.abort())  # the page needs nothing from any network
    page.set_content(render_html(report))
    assert page.inner_text("[data-score]") == f"{report.score.value:g}/10"
    assert "missing data" in page.inner_text("[data-coverage]")
    rows = page.locator('tr[data-figure="latency_p95"]')
    assert rows.count() == 1 and "fail" in rows.inner_text()
    charts = page.locator("svg.chart")
    assert charts.count() >= 4
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50  # drawn, not collapsed
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    ctx.close()


@needs_chromium
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_pdf_prints_and_turns_into_png_pages(report: Report) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = render(report, "pdf")
    assert pdf.startswith(b"%PDF-")
    (ARTIFACTS / "report.pdf").write_bytes(pdf)
    for old in ARTIFACTS.glob("report-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(ARTIFACTS / "report.pdf"),
                    str(ARTIFACTS / "report-page")], check=True, timeout=120)
    pages = sorted(ARTIFACTS.glob("report-page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 5_000 for p in pages)
    text = subprocess.run(["pdftotext", str(ARTIFACTS / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "Operations report" in text and "Availability" in text and "Not evaluated" in text
    assert "Mann-Whitney U" in text
