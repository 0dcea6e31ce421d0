"""PDF: the HTML report printed by a headless Chromium (``--print-to-pdf``).

The browser that prints is the one that renders the HTML report, so the PDF is exactly the
page a reader sees, charts included; no Python PDF library, no fonts to ship.  Chromium is
found as ``$GUARDIA_CHROMIUM`` or ``chromium``/``chromium-browser``/``google-chrome`` on the
PATH (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-pdf-header-footer",
         "--disable-dev-shm-usage")


class PdfError(RuntimeError):
    """No browser to print with, or it failed; the message says what to do."""


def find_browser() -> str:
    env = os.environ.get("GUARDIA_CHROMIUM", "")
    if env:
        if not Path(env).is_file():
            raise PdfError(f"GUARDIA_CHROMIUM={env}: no such file")
        return env
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("a PDF is printed by headless Chromium, and none was found: install it "
                   "(apt-get install chromium) or set GUARDIA_CHROMIUM, or use --format html")


def html_to_pdf(html: str, timeout_s: float = 120.0) -> bytes:
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="guardia-report-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={out}",
               page.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PdfError(f"{browser} did not print the report within {timeout_s:.0f}s") from None
        if not out.is_file() or out.stat().st_size == 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
            raise PdfError(f"{browser} exited {proc.returncode} without writing a PDF: {tail}")
        return out.read_bytes()
