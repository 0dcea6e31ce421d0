"""The sign-in flow in Debian's Chromium (Playwright): redirect to the sign-in page, a wrong
password, a right one, writes through the UI's own JavaScript and HTML forms (CSRF token added
by /-/auth/csrf.js), no Content-Security-Policy violation on any page, sign-out, and the
changes in the audit page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.auth.conftest import PASSWORDS, running, web_yaml

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")

SILENCE = """async () => {
  const r = await fetch('/api/v2/silences', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({matchers: [{name: 'job', value: 'db', isRegex: false}], createdBy: 'eve',
      comment: 'db upgrade', startsAt: new Date().toISOString(),
      endsAt: new Date(Date.now() + 3600e3).toISOString()})});
  return r.status;
}"""
BARE_XHR = """() => new Promise(done => {
  const x = new XMLHttpRequest();
  x.open('POST', '/api/v2/silences');
  x.setRequestHeader('Content-Type', 'application/json');
  x.onload = () => done(x.status);
  x.send('{}');
})"""


async def test_sign_in_write_and_sign_out_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    async with running(tmp_path, web_yaml()) as proc, async_playwright() as pw:
        base = f"http://{proc.listen}"
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page()
            violations: list[str] = []
            page.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            await page.goto(f"{base}/silences")
            assert page.url == f"{base}/-/auth/login?next=/silences"
            await page.fill("#username", "eve")
            await page.fill("#password", "not-it")
            await page.click("button[type=submit]")
            assert await page.text_content("[role=alert]") == "wrong user name or password"
            await page.fill("#password", PASSWORDS["eve"])
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/silences")
            cookies = {c["name"]: c for c in await page.context.cookies()}
            assert cookies["guardia_session"]["httpOnly"] and not cookies["guardia_csrf"]["httpOnly"]
            assert cookies["guardia_csrf"]["sameSite"] == "Strict"
            # the page's fetch() carries the CSRF token; a bare XMLHttpRequest does not
            assert await page.evaluate(SILENCE) == 200
            assert await page.evaluate(BARE_XHR) == 403
            # a server-rendered form gets its hidden csrf_token from the same script
            await page.goto(f"{base}/status/public/manage")
            await page.fill("input[name=title]", "Checkout errors")
            await page.fill("textarea[name=message]", "Looking into it")
            await page.click("text=Open incident")
            await page.wait_for_url(f"{base}/status/public/manage")
            assert "Checkout errors" in await page.content()
            # the editor may not read the audit log
            r = await page.goto(f"{base}/audit-log")
            assert r is not None and r.status == 403
            pages = (
                "/",
                "/targets",
                "/alerts",
                "/rules",
                "/silences",
                "/explore",
                "/dashboards",
                "/probes",
                "/status/public",
            )
            for path in pages:
                r = await page.goto(base + path)
                assert r is not None and r.status == 200, path
                await page.wait_for_load_state("networkidle")
            await page.request.post(f"{base}/-/auth/logout")
            await page.goto(f"{base}/targets")
            assert page.url.startswith(f"{base}/-/auth/login")
            # the admin sees both changes, by whom
            await page.fill("#username", "ada")
            await page.fill("#password", PASSWORDS["ada"])
            await page.click("button[type=submit]")
            await page.goto(f"{base}/audit-log")
            rows = await page.locator("table.audit tbody tr").all_text_contents()
            assert any("silence.create" in r and "eve" in r for r in rows), rows
            assert any("incident.create" in r and "eve" in r for r in rows), rows
            assert not violations, violations
        finally:
            await browser.close()
