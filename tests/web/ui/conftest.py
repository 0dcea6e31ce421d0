"""A running guardia with data, and Debian's Chromium driven by Playwright.

``guardia_server`` starts ``guardia serve`` (a subprocess, as users run it) with a config
that scrapes guardia itself, an app-like exporter served by the test, and a dead target; its
rules fire alerts at once; its Alertmanager sends to a webhook nobody listens on, so every
page has something to show.  The UI bundle is built first if it is missing or stale.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ui_bundle() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_ui  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    build_ui.ensure()
    if not build_ui.is_current():
        pytest.fail("the UI bundle could not be built: run python3 scripts/build_ui.py (needs node and npm)")


class AppExporter:
    """A scrape target exposing the metric names the seeds' apps expose (prometheus_client)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

        self.registry = CollectorRegistry()
        req = Counter("http_requests_total", "Requests.", ["method", "handler", "status"],
                      registry=self.registry)
        lat = Histogram("http_request_duration_seconds", "Latency.", ["handler"], registry=self.registry)
        ws = Gauge("websocket_connections_active", "Open WebSockets.", registry=self.registry)
        Gauge("node_memory_MemAvailable_bytes", "Memory.", registry=self.registry).set(2.5e9)
        Gauge("node_memory_MemTotal_bytes", "Memory.", registry=self.registry).set(8e9)
        for h, n in (("/api/orders", 120), ("/api/products", 300), ("/login", 40)):
            req.labels("GET", h, "200").inc(n)
            req.labels("GET", h, "500").inc(n // 20)
            for i in range(n // 10):
                lat.labels(h).observe(0.01 * (i % 7 + 1))
        ws.set(17)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self._req = req

    def close(self) -> None:
        self.server.shutdown()


def write_config(tmp: Path, self_addr: str, app_addr: str, dead_addr: str, hook_addr: str) -> Path:
    (tmp / "rules.yml").write_text(f"""
groups:
  - name: ui-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {{severity: critical, team: web}}
        annotations:
          summary: "It always fires"
          runbook_url: "http://{hook_addr}/runbooks/always"
      - alert: TargetDown
        expr: up == 0
        labels: {{severity: warning}}
        annotations: {{summary: "{{{{ $labels.instance }}}} is down"}}
      - alert: SlowBurn
        expr: vector(1)
        for: 1h
        labels: {{severity: info}}
      - record: job:http_requests:rate1m
        expr: sum by (job) (rate(http_requests_total[1m]))
""")
    (tmp / "dashboards").mkdir(exist_ok=True)
    (tmp / "dashboards" / "legacy-rows.json").write_text((DASHBOARDS / "legacy-rows.json").read_text())
    cfg = tmp / "guardia.yml"
    cfg.write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["{self_addr}"]}}]
scrape_configs:
  - job_name: guardia
    static_configs: [{{targets: ["{self_addr}"]}}]
  - job_name: api
    static_configs: [{{targets: ["{app_addr}"], labels: {{env: test}}}}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: node
  - job_name: broken
    static_configs: [{{targets: ["{dead_addr}"]}}]
web:
  dashboards:
    provisioning: [dashboards]
alertmanager:
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
  receivers:
    - name: ops
      webhook_configs:
        - url: "http://{hook_addr}/hook"
""")
    return cfg


class GuardiaServer:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = AppExporter()
        cfg = write_config(tmp, f"127.0.0.1:{self.port}", f"127.0.0.1:{self.app.port}",
                           f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.log = (tmp / "guardia.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(cfg),
             "--web.listen-address", f"127.0.0.1:{self.port}", "--storage.tsdb.path", str(tmp / "data")],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp,
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait(self, check: Any, timeout: float = 30, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"guardia exited with {self.proc.returncode}; see its log")
            try:
                got = check()
            except httpx.HTTPError:
                got = None
            if got:
                return got
            time.sleep(0.2)
        raise TimeoutError(f"guardia did not reach: {what}")

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.app.close()
        self.log.close()


@pytest.fixture(scope="session")
def guardia_server(tmp_path_factory: pytest.TempPathFactory, ui_bundle: None) -> Iterator[GuardiaServer]:
    srv = GuardiaServer(tmp_path_factory.mktemp("guardia-ui"))
    try:
        srv.wait(lambda: srv.client.get("/-/ready").status_code == 200, timeout=60, what="ready")
        srv.wait(lambda: len(srv.client.get("/api/v1/query", params={"query": "http_requests_total"})
                              .json()["data"]["result"]) > 0, what="scraped app metrics")
        # a few scrapes in, so rate() over a dashboard's $__rate_interval has samples to use
        srv.wait(lambda: srv.client.get("/api/v1/query", params={
            "query": 'count_over_time(up{job="api"}[1m]) >= 6'}).json()["data"]["result"], what="6 scrapes")
        srv.wait(lambda: any(a["labels"]["alertname"] == "AlwaysFiring"
                             for a in srv.client.get("/api/v2/alerts").json()), what="alert in Alertmanager")
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # module scope: Playwright's sync API keeps an event loop running while it is open, and
    # an asyncio test in a later module would find it there
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium "
                    "(scripts/system-packages.txt lists it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Tab:
    """A page that records console errors and failed requests, for "loads with no error"."""

    def __init__(self, browser: Any, base: str, width: int = 1280, height: int = 900,
                 color_scheme: str = "light") -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        # a navigation cancels the page's requests in flight (ERR_ABORTED): not an error
        self.page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "")
                     else self.errors.append(f"request failed: {r.url} {r.failure}"))

    def goto(self, path: str) -> Any:
        resp = self.page.goto(self.base + path, wait_until="load")
        self.page.wait_for_function("document.documentElement.dataset.ui === 'ready'", timeout=10_000)
        return resp

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, guardia_server: GuardiaServer) -> Iterator[Tab]:
    t = Tab(browser, guardia_server.url)
    try:
        yield t
    finally:
        t.close()
