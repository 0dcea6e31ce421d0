"""The readiness checklist of a real ``guardia serve``: ``/api/v1/readiness`` (the document
``guardia readiness --format json`` prints), the Readiness page in Debian's Chromium, and the
"auth and TLS on" item read from guardia's own web config (TLS with a generated certificate,
users and roles) and from the running server, PASS, FAIL and UNKNOWN.

Screenshots go to tests/audit/artifacts/ (gitignored)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest

from tests.probes.certs import make_pki
from tests.test_serve import Serve
from tests.web.ui.conftest import CHROMIUM, CHROMIUM_ARGS

SRC = str(Path(__file__).resolve().parents[2] / "src")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "Kx9-readiness-pw"
BCRYPT = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: guardia
    scheme: SCHEME
    tls_config: {insecure_skip_verify: true}
    basic_auth: {username: viewer, password_file: viewer.pass}
    static_configs: [{targets: ['127.0.0.1:PORT']}]
alertmanager:
  route: {receiver: team}
  receivers:
    - name: team
      webhook_configs: [{url: 'http://127.0.0.1:9/hook'}]
"""
RULES = """
groups:
  - name: g
    rules:
      - alert: GuardiaDown
        expr: up{job="guardia"} == 0
        for: 1m
"""


def _readiness(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-m", "guardia.cli.main", "readiness", *args, "--format", "json"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": SRC, **(env or {})})
    assert res.returncode in (0, 1), res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def _items(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in doc["items"]}


def _shape(doc: dict[str, Any]) -> Any:
    """Keys and item ids, without the values that depend on when and where it ran."""
    return (sorted(doc), [(i["id"], sorted(i), i["required"]) for i in doc["items"]],
            {k for i in doc["items"] for e in i["evidence"] for k in e})


def _write(tmp: Path, port: int, scheme: str) -> Path:
    cfg = tmp / "guardia.yml"
    text = CONFIG.replace("PORT", str(port)).replace("SCHEME", scheme)
    if scheme == "http":
        text = text.replace("    tls_config: {insecure_skip_verify: true}\n", "").replace(
            "    basic_auth: {username: viewer, password_file: viewer.pass}\n", "")
    (tmp / "viewer.pass").write_text(PASSWORD)
    (tmp / "rules.yml").write_text(RULES)
    cfg.write_text(text)
    return cfg


def test_api_and_page_of_a_guardia_without_web_config(tmp_path: Path) -> None:
    os.environ["PYTHONPATH"] = SRC
    s = Serve(tmp_path, "--config.file", str(tmp_path / "guardia.yml"), "--web.enable-admin-api",
              "--storage.tsdb.retention.time", "30d")
    cfg = _write(tmp_path, s.port, "http")
    try:
        s.wait_ready()
        s.wait_up("guardia")
        r = s.http.get("/api/v1/readiness", timeout=60)
        assert r.status_code == 200 and r.json()["status"] == "success"
        doc = r.json()["data"]
        items = _items(doc)
        assert doc["profile"] == "small-team" and doc["verdict"] == "NO-GO"
        # the server knows it serves without a web config: FAIL, not UNKNOWN
        assert items["auth-tls"]["status"] == "FAIL"
        assert "serves without --web.config.file" in items["auth-tls"]["evidence"][0]["text"]
        assert items["snapshots"]["status"] == "FAIL" and "no snapshot" in items["snapshots"]["summary"]
        assert items["retention"]["status"] == "PASS" and items["retention"]["evidence"][0]["value"] == "30d"
        assert items["coverage"]["status"] == "PASS"
        assert items["delivery"]["status"] == "FAIL"  # no test, no delivery: the counters show nothing

        # the same document as the CLI's, for the same files and server
        cli = _readiness(str(cfg), "--url", s.url, "--storage.tsdb.path", str(tmp_path / "data"))
        assert _shape(cli) == _shape(doc)
        assert {k: v["status"] for k, v in _items(cli).items()} == {k: v["status"] for k, v in items.items()}

        gov = s.http.get("/api/v1/readiness", params={"profile": "government"}, timeout=60).json()["data"]
        assert gov["profile"] == "government" and _items(gov)["auth-tls"]["required"] is True
        assert _items(gov)["retention"]["status"] == "FAIL"  # 30 days kept, 365 required
        bad = s.http.get("/api/v1/readiness", params={"profile": "bank"})
        assert bad.status_code == 400
        assert "profile must be one of small-team, government" in bad.json()["error"]

        # with a snapshot that restores, the snapshots item passes
        assert s.http.post("/api/v1/admin/tsdb/snapshot").json()["status"] == "success"
        doc = s.http.get("/api/v1/readiness", timeout=60).json()["data"]
        assert _items(doc)["snapshots"]["status"] == "PASS", _items(doc)["snapshots"]
        assert "read back" in _items(doc)["snapshots"]["evidence"][1]["text"]

        _browse(s.url)
    finally:
        s.stop()


def _browse(base: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(f"{base}/readiness", timeout=60_000)
            assert page.locator("[data-verdict]").inner_text() == "NO-GO"
            rows = page.locator("tr[data-item]").evaluate_all(
                "rs => rs.map(r => [r.dataset.item, r.dataset.status])")
            assert dict(rows)["auth-tls"] == "FAIL" and dict(rows)["snapshots"] == "PASS"
            assert [r[0] for r in rows] == ["coverage", "delivery", "retention", "snapshots", "slos",
                                            "secrets", "auth-tls", "audit"]
            assert "serves without --web.config.file" in page.locator('tr[data-item="auth-tls"]').inner_text()
            # the top bar lists the page
            assert page.locator("nav[aria-label=main] a[href$='/readiness']").count() == 1
            page.screenshot(path=str(ARTIFACTS / "readiness.png"), full_page=True)
            page.click("text=government")
            page.wait_for_url("**/readiness?profile=government")
            assert "(advisory)" not in page.locator('tr[data-item="auth-tls"]').inner_text()
            assert page.locator('tr[data-item="retention"]').get_attribute("data-status") == "FAIL"
            page.screenshot(path=str(ARTIFACTS / "readiness-government.png"), full_page=True)
            page.goto(f"{base}/readiness?profile=bank")
            assert "profile must be one of" in page.inner_text("body")
        finally:
            browser.close()


def _web(tmp: Path, cert: Path, key: Path, *, users: bool = True, extra: str = "") -> Path:
    web = tmp / "web.yml"
    text = f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n{extra}"
    if users:
        text += (f"basic_auth_users:\n  admin: '{BCRYPT}'\n  viewer: '{BCRYPT}'\n"
                 "guardia:\n  roles: {admin: admin, viewer: viewer}\n  public: [health]\n")
    web.write_text(text)
    return web


def test_auth_and_tls_from_guardias_own_web_config(tmp_path: Path) -> None:
    os.environ["PYTHONPATH"] = SRC
    ca, leaves = make_pki(tmp_path)
    good = leaves["good"]
    web = _web(tmp_path, good.cert, good.key)
    s = Serve(tmp_path, "--config.file", str(tmp_path / "guardia.yml"), "--web.config.file", str(web))
    _write(tmp_path, s.port, "https")
    base = f"https://localhost:{s.port}"
    env = {"SSL_CERT_FILE": str(ca)}
    tls = ssl.create_default_context(cafile=str(ca))
    try:
        deadline = time.time() + 60
        while True:
            assert s.proc.poll() is None, s.log.read_text()
            try:
                if httpx.get(base + "/-/ready", verify=tls, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, s.log.read_text()
            time.sleep(0.2)

        # the CLI: the web config's facts at their lines, the server refusing anonymous requests
        # to an admin route, and serving the web config's certificate
        doc = _readiness("--url", f"https://admin:{PASSWORD}@localhost:{s.port}",
                         "--web.config.file", str(web), "--profile", "government", env=env)
        assert PASSWORD not in json.dumps(doc)  # the credentials of --url are never printed
        item = _items(doc)["auth-tls"]
        assert item["status"] == "PASS", item
        lines = {e["line"] for e in item["evidence"] if e["file"] == str(web)}
        assert lines == {2, 4, 9}  # tls_server_config.cert_file, basic_auth_users, guardia.public
        texts = " | ".join(e["text"] for e in item["evidence"])
        assert "admin (admin), viewer (viewer)" in texts and "no anonymous admin" in texts
        assert any(e["value"] == "HTTP 401" for e in item["evidence"])
        served = next(e for e in item["evidence"] if e["query"].startswith("TLS handshake"))
        assert "serves the certificate of cert_file" in served["text"]

        # the API of the running guardia: its own web config, as a viewer may read it
        r = httpx.get(base + "/api/v1/readiness", auth=("viewer", PASSWORD), verify=tls, timeout=60)
        assert r.status_code == 200, r.text
        api = _items(r.json()["data"])["auth-tls"]
        assert api["status"] == "PASS", api
        assert {e["line"] for e in api["evidence"] if e["file"] == str(web)} == lines
        assert httpx.get(base + "/api/v1/readiness", verify=tls).status_code == 401
        page = httpx.get(base + "/readiness", auth=("viewer", PASSWORD), verify=tls, timeout=60)
        assert page.status_code == 200 and 'data-item="auth-tls" data-status="PASS"' in page.text

        # a test notification through the server needs an editor, and is in the audit log
        notify = [sys.executable, "-m", "guardia.cli.main", "notify", "test", "--receiver", "team", "--url"]
        run_env = {**os.environ, "PYTHONPATH": SRC, **env}
        res = subprocess.run([*notify, f"https://viewer:{PASSWORD}@localhost:{s.port}"], capture_output=True,
                             text=True, timeout=60, env=run_env)
        assert res.returncode == 1 and "answered HTTP 403" in res.stderr and "needs an editor" in res.stderr
        assert PASSWORD not in res.stderr and f"https://localhost:{s.port}/api/v1/notify/test" in res.stderr
        res = subprocess.run([*notify, f"https://admin:{PASSWORD}@localhost:{s.port}"], capture_output=True,
                             text=True, timeout=60, env=run_env)
        assert res.returncode == 1 and "FAILED  team/webhook[0]" in res.stdout  # nothing listens on :9
        (rec,) = [json.loads(x) for x in (tmp_path / "data" / "alertmanager" / "notify_tests.jsonl")
                  .read_text().splitlines()]
        assert rec["by"] == "admin" and rec["ok"] is False
        log = [json.loads(x) for x in (tmp_path / "data" / "audit" / "audit.jsonl").read_text().splitlines()]
        assert [e["user"] for e in log if e["action"] == "notify.test"] == ["admin"]

        # guardia audit --url with a viewer's API token in $GUARDIA_TOKEN: the live checks and the
        # recorded test (team failed above) are read through the API
        made = subprocess.run([sys.executable, "-m", "guardia.cli.main", "token", "create", "--name", "ci",
                               "--role", "viewer", "--storage.tsdb.path", str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=60, env=run_env)
        token = next(w for w in made.stdout.split() if w.startswith("gdt_"))
        audit = [sys.executable, "-m", "guardia.cli.main", "audit", str(tmp_path / "guardia.yml"),
                 "--url", base, "--format", "json"]
        res = subprocess.run(audit, capture_output=True, text=True, timeout=60,
                             env={**run_env, "GUARDIA_TOKEN": token})
        found = json.loads(res.stdout)
        assert [f for f in found if f["check"] == "audit/live"] == []
        assert [f["arg"] for f in found if f["check"] == "receiver/failing"] == ["team"]
        res = subprocess.run(audit, capture_output=True, text=True, timeout=60, env=run_env)
        assert any("HTTP 401" in f["message"] for f in json.loads(res.stdout) if f["check"] == "audit/live")

        # another certificate than the one served: the file given is not what the server uses
        (tmp_path / "other").mkdir()
        other = _web(tmp_path / "other", leaves["wrongname"].cert, leaves["wrongname"].key)
        doc = _readiness("--url", base, "--web.config.file", str(other), env=env)
        item = _items(doc)["auth-tls"]
        assert item["status"] == "FAIL" and "another certificate than cert_file" in " ".join(
            e["text"] for e in item["evidence"])
    finally:
        s.stop()

    # FAIL from the file alone: TLS without users (anyone is admin), weak TLS, a password in clear
    tls_only = _web(tmp_path, good.cert, good.key, users=False)
    item = _items(_readiness("--web.config.file", str(tls_only)))["auth-tls"]
    assert item["status"] == "FAIL" and item["summary"] == "authentication off"
    assert "anyone who reaches the port is admin" in item["evidence"][-1]["text"]
    weak = _web(tmp_path, good.cert, good.key, extra="  min_version: TLS11\n")
    item = _items(_readiness("--web.config.file", str(weak)))["auth-tls"]
    assert item["status"] == "FAIL" and item["summary"] == "TLS off"
    assert [(e["line"], "min_version TLS11" in e["text"]) for e in item["evidence"] if "TLS11" in e["text"]] \
        == [(4, True)]
    web.write_text(web.read_text().replace(BCRYPT, PASSWORD))
    item = _items(_readiness("--web.config.file", str(web)))["auth-tls"]
    assert item["status"] == "FAIL"
    admin_line = next(n for n, t in enumerate(web.read_text().splitlines(), 1) if t.startswith("  admin:"))
    assert any("not a bcrypt hash" in e["text"] and e["line"] == admin_line for e in item["evidence"])


@pytest.mark.parametrize("args", [(), ("--url", "http://127.0.0.1:9")])
def test_auth_tls_is_unknown_without_evidence(args: tuple[str, ...]) -> None:
    item = _items(_readiness("--profile", "small-team", *args))["auth-tls"]
    assert item["status"] == "UNKNOWN", item


SLO_CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: guardia
    static_configs: [{targets: ['127.0.0.1:PORT']}]
  - job_name: dead
    static_configs: [{targets: ['127.0.0.1:9']}]
slos:
  - name: up
    service: guardia
    objective: 99
    window: 1d
    indicator: {bool_gauge: 'up{job="guardia"}'}
"""
DEAD_SLO = """  - name: up-dead
    service: dead
    objective: 99
    window: 1d
    indicator: {bool_gauge: 'up{job="dead"}'}
"""


def test_slos_within_and_out_of_budget(tmp_path: Path) -> None:
    os.environ["PYTHONPATH"] = SRC
    cfg = tmp_path / "guardia.yml"
    s = Serve(tmp_path, "--config.file", str(cfg))
    cfg.write_text(SLO_CONFIG.replace("PORT", str(s.port)) + DEAD_SLO)
    try:
        s.wait_ready()
        deadline = time.time() + 60
        while True:
            slos = s.http.get("/api/v1/slos").json()["data"]
            left = {d["service"]: (d.get("status") or {}).get("errorBudgetRemaining") for d in slos}
            if left.get("guardia") is not None and left.get("dead") is not None:
                break
            assert time.time() < deadline, left
            time.sleep(0.5)
        doc = s.http.get("/api/v1/readiness", params={"profile": "government"}, timeout=60).json()["data"]
        item = _items(doc)["slos"]
        assert item["status"] == "FAIL" and item["summary"] == "out of budget or without data: dead/up-dead"
        assert item["required"] is True
        budgets = {e["text"]: e["value"] for e in item["evidence"] if e["query"] == "/api/v1/slos"}
        assert budgets["guardia/up: budget left"] == "100.0%"
        assert budgets["dead/up-dead: budget left"].startswith("-")
        # the CLI against the same guardia reads the same budgets over HTTP
        cli = _items(_readiness(str(cfg), "--url", s.url, "--profile", "government"))["slos"]
        assert cli["status"] == "FAIL" and cli["summary"] == item["summary"]

        cfg.write_text(SLO_CONFIG.replace("PORT", str(s.port)))
        assert s.http.post("/-/reload").status_code == 200
        doc = s.http.get("/api/v1/readiness", params={"profile": "government"}, timeout=60).json()["data"]
        item = _items(doc)["slos"]
        assert item["status"] == "PASS" and item["summary"] == "1 SLOs within budget", item
    finally:
        s.stop()
