"""GRUPO_GAD as a live system for the audit's ``--url``: a real Prometheus (Debian's package)
scraping stand-ins for the API and the exporters, before and after the seeds' fixes.

The stand-ins serve what the seeds say each target exposes: the API only ``ggrt_*`` (seed 000,
Tabla 5) until the fix adds HTTP request metrics; the exporters their usual names; the
Alertmanager failing Slack notifications while the webhook is a placeholder.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import httpx

JOBS = ("prometheus", "api", "postgres", "redis", "node", "alertmanager")
FIXED_JOBS = (*JOBS, "caddy")
STATIC_LABELS = {
    "api": {"service": "fastapi", "component": "api"},
    "postgres": {"service": "postgresql", "component": "database"},
    "redis": {"service": "redis", "component": "cache"},
    "node": {"service": "node-exporter", "component": "infrastructure"},
    "alertmanager": {"service": "alertmanager", "component": "alerting"},
    "caddy": {"service": "caddy", "component": "reverse-proxy"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ggrt(n: int) -> list[str]:
    return [
        "# TYPE ggrt_active_connections gauge", 'ggrt_active_connections{env="production"} 12',
        "# TYPE ggrt_connections_total counter", f'ggrt_connections_total{{env="production"}} {100 + n}',
        "# TYPE ggrt_messages_sent_total counter",
        f'ggrt_messages_sent_total{{env="production"}} {1000 + 9 * n}',
        "# TYPE ggrt_broadcasts_total counter", f'ggrt_broadcasts_total{{env="production"}} {50 + n}',
        "# TYPE ggrt_send_errors_total counter", f'ggrt_send_errors_total{{env="production"}} {n // 10}',
        "# TYPE ggrt_user_active gauge", 'ggrt_user_active{env="production"} 7',
        "# TYPE ggrt_role_connections gauge", 'ggrt_role_connections{env="production",role="admin"} 2',
        "# TYPE ggrt_message_latency_seconds histogram",
        *(f'ggrt_message_latency_seconds_bucket{{env="production",le="{le}"}} {c * (n + 1)}'
          for le, c in (("0.1", 8), ("0.25", 9), ("+Inf", 10))),
        f'ggrt_message_latency_seconds_sum{{env="production"}} {0.05 * (n + 1)}',
        f'ggrt_message_latency_seconds_count{{env="production"}} {10 * (n + 1)}',
    ]


def _http(n: int) -> list[str]:
    return [
        "# TYPE http_requests_total counter",
        f'http_requests_total{{method="GET",status="200"}} {500 + 20 * n}',
        f'http_requests_total{{method="GET",status="500"}} {n // 20}',
        "# TYPE http_request_duration_seconds histogram",
        *(f'http_request_duration_seconds_bucket{{le="{le}"}} {c * (n + 1)}'
          for le, c in (("0.1", 15), ("0.5", 19), ("2", 20), ("+Inf", 20))),
        f"http_request_duration_seconds_sum {(n + 1) * 2.1}",
        f"http_request_duration_seconds_count {20 * (n + 1)}",
    ]


def exposition(state: str, job: str, n: int) -> str:
    if job == "api":
        lines = _ggrt(n) + (_http(n) if state == "fixed" else [])
    elif job == "postgres":
        lines = ["# TYPE pg_up gauge", "pg_up 1",
                 "# TYPE pg_stat_activity_count gauge",
                 'pg_stat_activity_count{datname="gad",state="active"} 9',
                 "# TYPE pg_stat_activity_max_tx_duration gauge",
                 'pg_stat_activity_max_tx_duration{datname="gad",state="active"} 0.4',
                 "# TYPE pg_database_size_bytes gauge", 'pg_database_size_bytes{datname="gad"} 2.1e9']
    elif job == "redis":
        lines = ["# TYPE redis_up gauge", "redis_up 1",
                 "# TYPE redis_memory_used_bytes gauge", "redis_memory_used_bytes 1.2e8",
                 "# TYPE redis_memory_max_bytes gauge", "redis_memory_max_bytes 5.0e8",
                 "# TYPE redis_evicted_keys_total counter", f"redis_evicted_keys_total {n}"]
    elif job == "node":
        lines = ["# TYPE node_cpu_seconds_total counter",
                 *(f'node_cpu_seconds_total{{cpu="0",mode="{m}"}} {v + n}'
                   for m, v in (("idle", 900), ("user", 80))),
                 "# TYPE node_memory_MemAvailable_bytes gauge", "node_memory_MemAvailable_bytes 6e8",
                 "# TYPE node_memory_MemTotal_bytes gauge", "node_memory_MemTotal_bytes 1e9",
                 "# TYPE node_filesystem_avail_bytes gauge",
                 'node_filesystem_avail_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 4e10',
                 "# TYPE node_filesystem_size_bytes gauge",
                 'node_filesystem_size_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 8e10']
    elif job == "alertmanager":
        failed = 0 if state == "fixed" else n
        lines = ["# TYPE alertmanager_notifications_total counter",
                 *(f'alertmanager_notifications_total{{integration="{i}",receiver_name="{r}"}} {n}'
                   for i, r in (("email", "critical-alerts"), ("slack", "critical-alerts"),
                                ("slack", "warning-alerts"))),
                 "# TYPE alertmanager_notifications_failed_total counter",
                 *(f'alertmanager_notifications_failed_total{{integration="slack",reason="clientError",'
                   f'receiver_name="{r}"}} {failed}' for r in ("critical-alerts", "warning-alerts"))]
    elif job == "caddy":
        lines = ["# TYPE caddy_http_requests_total counter",
                 f'caddy_http_requests_total{{server="srv0"}} {30 * n}']
    else:
        lines = []
    return "\n".join(lines) + "\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 2:
            self.send_error(404)
            return
        n = self.hits.get(self.path, 0)
        self.hits[self.path] = n + 1
        body = exposition(parts[0], parts[1], n).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def stand_ins() -> Iterator[int]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_port
    finally:
        srv.shutdown()
        srv.server_close()


def _config(state: str, exporter_port: int, prom_port: int) -> str:
    jobs = FIXED_JOBS if state == "fixed" else JOBS
    lines = ["global: {scrape_interval: 1s, evaluation_interval: 1s}", "scrape_configs:"]
    for job in jobs:
        if job == "prometheus":
            lines += [f"  - job_name: {job}", f"    static_configs: [{{targets: ['127.0.0.1:{prom_port}'], "
                      "labels: {service: prometheus}}]"]
            continue
        labels = ", ".join(f"{k}: {v}" for k, v in STATIC_LABELS[job].items())
        lines += [f"  - job_name: {job}", f"    metrics_path: /{state}/{job}",
                  f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}'], labels: {{{labels}}}}}]"]
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus(state: str, exporter_port: int, tmp: Path) -> Iterator[str]:
    """A Debian Prometheus scraping the stand-ins every second; yields its URL once every job
    has been scraped twice (so rate() has two samples)."""
    port = free_port()
    cfg = tmp / f"prometheus-{state}.yml"
    cfg.write_text(_config(state, exporter_port, port))
    proc = subprocess.Popen(
        ["/usr/bin/prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp / f'data-{state}'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=15d"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    jobs = FIXED_JOBS if state == "fixed" else JOBS
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(url + "/api/v1/query", params={"query": "count_over_time(up[1m]) >= 3"},
                              timeout=2)
                if {s["metric"]["job"] for s in r.json()["data"]["result"]} >= set(jobs):
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Prometheus did not scrape every stand-in within 60s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
