"""UI pages: server time and full load in headless Chromium.

* ``/targets`` with 1,000 targets (10 jobs) and ``/alerts`` with 200 firing alerts: the page
  data come from in-memory retrievers (what the scrape manager and rule manager hand the UI),
  so the figure is the UI's own cost (target < 1 s each).
* A 20-panel dashboard over 24 h of data at 100,000 stored series (1,000 targets x 100
  series of ``benchmarks._data``, one sample every 5 minutes, cut into blocks as
  ``guardia serve`` does): time from navigation until every panel has its final
  ``data-state`` and is drawn (target < 2 s).

The store is built once into ``$GUARDIA_BENCH_DIR`` (default /tmp/guardia-bench-ui-pages) and
reused by later runs.  Server times are medians of 5 GETs; browser times medians of 3 loads.
The dashboard is loaded first on a fresh server (nothing cached: three servers, the median
of their first loads) and then reloaded (the server's clock has moved on, so a reload is a
new view that may reuse only the settled steps of earlier results).  The last line holds
the figures.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

N_TARGETS = 1000
STEP_MS = 5 * 60_000
SPAN_MS = 24 * 3600_000
T_END = 1_700_000_000_000 - (1_700_000_000_000 % (2 * 3600_000))
CHROMIUM = "/usr/bin/chromium"
DATA = Path(os.environ.get("GUARDIA_BENCH_DIR", "/tmp/guardia-bench-ui-pages"))
STAMP = f"v1 targets={N_TARGETS} step={STEP_MS} span={SPAN_MS} end={T_END}"


def build_store() -> None:
    """100,000 series over 24 h, written through the TSDB and cut into blocks."""
    from benchmarks._data import Workload
    from guardia.storage.tsdb import TSDB

    if (DATA / "stamp").is_file() and (DATA / "stamp").read_text() == STAMP:
        return
    if DATA.exists():
        import shutil

        shutil.rmtree(DATA)
    DATA.mkdir(parents=True)
    started = time.perf_counter()
    db = TSDB.open(str(DATA / "tsdb"))
    w = Workload(N_TARGETS)
    app = db.appender()
    refs = np.array([app.ref(lb) for lb in w.labels], dtype=np.int64)
    app.commit()
    rounds = SPAN_MS // STEP_MS + 1
    for k in range(rounds):
        app = db.appender()
        app.append_batch(refs, T_END - (rounds - 1 - k) * STEP_MS, w.step())
        app.commit()
        if k % 72 == 71:  # cut the finished 2 h ranges into blocks, as serve does
            db.maintain()
    db.close()
    (DATA / "stamp").write_text(STAMP)
    print(f"built {w.n:,} series x {rounds} samples in {time.perf_counter() - started:.0f}s", flush=True)


def dashboard() -> dict[str, Any]:
    """20 panels of the kinds people put on a service dashboard, over the job variable."""
    sel = 'job="$job"'
    req = f"http_requests_total{{{sel}}}"
    err = f'http_requests_total{{{sel},code="500"}}'
    bucket = f"http_request_duration_seconds_bucket{{{sel}}}"
    ri = "[$__rate_interval]"
    exprs = [
        ("timeseries", f"sum by (handler) (rate({req}{ri}))", "{{handler}}"),
        ("timeseries", f"sum by (handler) (rate({err}{ri})) / sum by (handler) (rate({req}{ri}))", "{{handler}}"),
        ("timeseries", f"histogram_quantile(0.95, sum by (le) (rate({bucket}{ri})))", "p95"),
        ("timeseries", f"histogram_quantile(0.5, sum by (le) (rate({bucket}{ri})))", "p50"),
        ("timeseries", f"sum by (code) (rate({req}{ri}))", "{{code}}"),
        ("timeseries", f"sum(rate(process_cpu_seconds_total{{{sel}}}{ri}))", "cpu"),
        ("timeseries", f"sum(process_resident_memory_bytes{{{sel}}})", "rss"),
        ("timeseries", f"topk(5, sum by (instance) (rate({req}{ri})))", "{{instance}}"),
        ("timeseries", f"sum by (queue) (app_queue_depth{{{sel}}})", "{{queue}}"),
        ("timeseries", f"avg by (sensor) (app_temperature_celsius{{{sel}}})", "{{sensor}}"),
        ("timeseries", f"sum by (op) (rate(db_queries_total{{{sel}}}{ri}))", "{{op}}"),
        ("timeseries", f"sum(app_connections{{{sel}}})", "connections"),
        ("stat", f"sum(rate({req}[15m]))", ""),
        ("stat", f"sum(rate({err}[15m])) / sum(rate({req}[15m]))", ""),
        ("stat", f"count(up{{{sel}}})", ""),
        ("gauge", f"avg(process_open_fds{{{sel}}})", ""),
        ("gauge", f"avg(go_goroutines{{{sel}}})", ""),
        ("bargauge", f"sum by (handler) (rate({req}[15m]))", "{{handler}}"),
        ("table", f"sum by (handler, code) (increase({req}[1h]))", ""),
        ("stat", f"sum(increase({req}[$__range]))", ""),
    ]
    panels = []
    for i, (kind, expr, legend) in enumerate(exprs):
        w = 12 if kind == "timeseries" else 6
        panels.append({"id": i + 1, "type": kind, "title": f"panel {i + 1}",
                       "gridPos": {"x": (i * w) % 24, "y": i * 2, "w": w, "h": 8},
                       "targets": [{"refId": "A", "expr": expr, "legendFormat": legend,
                                    "instant": kind == "table"}]})
    return {"uid": "bench", "title": "Benchmark: 20 panels", "time": {"from": "now-24h", "to": "now"},
            "templating": {"list": [{"name": "job", "type": "query", "query": "label_values(up, job)",
                                     "current": {"value": "api"}}]},
            "panels": panels}


def _addr(t: int) -> str:
    return f"10.0.{t // 250}.{t % 250}:8000"


def serve(port: int, dash_dir: str) -> None:
    import uvicorn

    from guardia.model import Labels
    from guardia.promql import Engine
    from guardia.storage.tsdb import TSDB
    from guardia.web import AppDeps, create_app
    from guardia.web.api_v1 import ApiDeps
    from guardia.web.protocols import AlertView, RuleGroupView, RuleView, TargetView
    from guardia.web.ui import UiSources
    from guardia.web.ui import routes as ui_routes
    from guardia.web.ui.dashboards.store import DashboardStore

    class Targets:
        def __init__(self) -> None:
            self.items = [
                TargetView(
                    discovered_labels=Labels.of(__address__=_addr(t), job=f"job-{t % 10}"),
                    labels=Labels.of(instance=_addr(t), job=f"job-{t % 10}", env="prod"),
                    scrape_pool=f"job-{t % 10}", scrape_url=f"http://{_addr(t)}/metrics",
                    health="down" if t % 97 == 0 else "up",
                    last_error="Get: connection refused" if t % 97 == 0 else "",
                    last_scrape_ms=T_END - 5_000, last_scrape_duration_s=0.004,
                )
                for t in range(N_TARGETS)
            ]

        def active_targets(self) -> list[TargetView]:
            return self.items

        def dropped_targets(self) -> list[Any]:
            return []

        def discovery_errors(self) -> dict[str, list[str]]:
            return {}

    class Rules:
        def rule_groups(self) -> list[RuleGroupView]:
            alerts = [
                AlertView(labels=Labels.of(alertname="HighErrorRate", severity=("critical", "warning")[i % 2],
                                           instance=f"10.0.0.{i}:8000", job="api"),
                          annotations=Labels.of(summary=f"5xx above 5% on 10.0.0.{i}",
                                                runbook_url="https://runbooks.example/high-error-rate"),
                          state="firing", active_at_ms=T_END - 600_000, value=0.07)
                for i in range(200)
            ]
            rule = RuleView(name="HighErrorRate", query="sum(rate(x[5m])) > 0.05", type="alerting",
                            alerts=alerts, health="ok", last_evaluation_ms=T_END)
            return [RuleGroupView(name="api", file="alerts.yml", interval_s=15, rules=[rule])]

    db = TSDB.open(str(DATA / "tsdb"))
    store = DashboardStore(dash_dir)
    store.save(dashboard(), overwrite=True)
    engine = Engine()
    # the clock runs from T_END as a server's does, so a reload is a new view (a later
    # "now") and only what the results cache may keep is reused
    started = time.monotonic()

    def now_ms() -> int:
        return T_END + int((time.monotonic() - started) * 1000)

    ui = UiSources(storage=db, engine=engine, targets=Targets(), rules=Rules(), dashboards=store,
                   now_ms=now_ms, scrape_interval_ms=lambda: STEP_MS)
    app = create_app(AppDeps(api=ApiDeps(storage=db, engine=engine, now_ms=now_ms),
                             extra_routes=ui_routes(ui)))
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used: the server's own cost, which the
    wall times above do not show on a machine other work is loading."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_ms(client: httpx.Client, path: str) -> float:
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = client.get(path)
        r.raise_for_status()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def browser_loads(url: str, path: str, wait_panels: bool, n: int) -> list[float]:
    """``n`` loads of ``path`` one after another, in ms: navigation until the page is ready
    (and, for a dashboard, until every panel has its final state and is drawn)."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            for _ in range(n):
                page = b.new_page(viewport={"width": 1280, "height": 900})
                t0 = time.perf_counter()
                page.goto(url + path, wait_until="load")
                page.wait_for_function("document.documentElement.dataset.ui === 'ready'")
                if wait_panels:
                    page.wait_for_function(
                        "document.querySelectorAll('[data-panel-id][data-state=loading]').length === 0",
                        timeout=120_000)
                times.append((time.perf_counter() - t0) * 1000)
                if wait_panels:
                    states = page.eval_on_selector_all("[data-panel-id]",
                                                       "els => els.map(e => e.dataset.state)")
                    bad = [s for s in states if s != "ok"]
                    if bad:
                        raise SystemExit(f"dashboard panels not ok: {states}")
                page.close()
        finally:
            b.close()
    return times


class Server:
    """``guardia``'s web app over the benchmark's store in a subprocess: a fresh one has
    nothing cached, as after a restart."""

    def __init__(self, dash_dir: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "benchmarks.ui_pages", "--serve", str(port), dash_dir]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self.client = httpx.Client(base_url=self.url, timeout=120)
        for _ in range(600):
            try:
                self.client.get("/-/ready")
                break
            except httpx.TransportError:
                time.sleep(0.1)

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    build_store()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as d:
        srv = Server(d)
        try:
            for name, path in (("targets", "/targets"), ("alerts", "/alerts")):
                server = server_ms(srv.client, path)
                full = statistics.median(browser_loads(srv.url, path, False, 3))
                figures[name] = {"server_ms": server, "load_ms": full}
                print(f"  {path}: server {server:.0f} ms, full load in Chromium {full:.0f} ms", flush=True)
            # the page and its 20 panel requests one after another, as one view, nothing cached
            page = srv.client.get("/d/bench")
            page.raise_for_status()
            now = page.text.split('data-now="', 1)[1].split('"', 1)[0]
            t0, c0 = time.perf_counter(), cpu_s(srv.proc.pid)
            for i in range(1, 21):
                body = srv.client.get(f"/api/ui/dashboards/bench/panels/{i}", params={"now": now}).json()
                assert body["state"] == "ok", (i, body)
            serial = (time.perf_counter() - t0) * 1000
            serial_cpu = cpu_s(srv.proc.pid) - c0
            print(f"  20 panel requests one after another, nothing cached: {serial:.0f} ms "
                  f"(server CPU {serial_cpu:.2f} s)", flush=True)
        finally:
            srv.close()
        cold: list[float] = []
        reloads: list[float] = []
        for k in range(3):  # a fresh server each time: the first load has nothing cached
            srv = Server(d)
            try:
                if k == 0:  # the page alone resolves variables; panel queries are not run
                    figures["dashboard_page"] = {"server_ms": server_ms(srv.client, "/d/bench")}
                c0 = cpu_s(srv.proc.pid)
                times = browser_loads(srv.url, "/d/bench", True, 1 if k else 4)
                used = cpu_s(srv.proc.pid) - c0
                cold.append(times[0])
                reloads.extend(times[1:])
                print(f"  /d/bench in Chromium: first load {times[0]:.0f} ms"
                      + (f" (server CPU {used:.2f} s)" if not times[1:] else
                         f" (server CPU {used:.2f} s with the reloads)")
                      + (f", reloads {', '.join(f'{t:.0f}' for t in times[1:])} ms" if times[1:] else ""),
                      flush=True)
                if k == 0:
                    # 24 h ending 5 minutes ago: one step earlier than every cached result, so
                    # nothing is reused, but the store has been read already (a warm server)
                    other = browser_loads(srv.url, "/d/bench?from=now-1445m&to=now-5m", True, 1)[0]
                    figures["dashboard_warm_store"] = {"load_ms": other}
                    print(f"  /d/bench, another 24 h range, nothing cached, store warm: {other:.0f} ms",
                          flush=True)
            finally:
                srv.close()
        figures["dashboard"] = {"cold_ms": statistics.median(cold), "reload_ms": statistics.median(reloads),
                                "serial_ms": serial, "serial_cpu_ms": serial_cpu * 1000}
    t, a, dsh = figures["targets"], figures["alerts"], figures["dashboard"]
    print(json.dumps({k: {m: round(x) for m, x in v.items()} for k, v in figures.items()}))
    print(f"ui_pages: /targets 1,000 targets {t['server_ms']:.0f} ms server / {t['load_ms']:.0f} ms load; "
          f"/alerts 200 firing {a['server_ms']:.0f} / {a['load_ms']:.0f} ms; 20-panel dashboard, "
          f"24 h x 100,000 series: page {figures['dashboard_page']['server_ms']:.0f} ms, all panels drawn "
          f"{dsh['cold_ms']:.0f} ms on a first load after start, "
          f"{figures['dashboard_warm_store']['load_ms']:.0f} ms for a range nothing is cached for, "
          f"{dsh['reload_ms']:.0f} ms on a reload; server CPU for one view's 20 panels, nothing cached: "
          f"{dsh['serial_cpu_ms']:.0f} ms")

if __name__ == "__main__":
    main()
