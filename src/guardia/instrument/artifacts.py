"""What ``guardia init app`` writes: a scrape job, alert rules and a dashboard over exactly the
metrics the middleware exposes (in the naming the app uses), as plain data.

Kept beside the middleware so a renamed metric and the rules that read it change together; the
tests scrape a real instrumented app with guardia and check that no rule or panel reads a metric
the app does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardia.instrument.http_metrics import NAMINGS, InstrumentError

FRAMEWORKS = ("fastapi", "django")


@dataclass(frozen=True)
class AppSpec:
    framework: str
    job: str = "api"
    target: str = "127.0.0.1:8000"
    naming: str = "instrumentator"
    websocket_prefix: str = "websocket_"
    websocket_max_connections: int = 1000
    error_ratio: float = 0.05  # alert when more than this share of requests fail with 5xx
    latency_p95: float = 0.5  # seconds
    latency_p99: float = 2.0

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise InstrumentError(f"--framework {self.framework!r}: use one of {', '.join(FRAMEWORKS)}")
        if self.naming not in NAMINGS:
            raise InstrumentError(f"--naming {self.naming!r}: use one of {', '.join(NAMINGS)}")
        if not self.job or not all(c.isalnum() or c in "_-" for c in self.job):
            raise InstrumentError(f"--job {self.job!r}: use letters, digits, '-' and '_'")
        host, _, port = self.target.rpartition(":")
        if not host or not port.isdigit():
            raise InstrumentError(f"--target {self.target!r}: give host:port, like 127.0.0.1:8000")
        if self.websocket_max_connections <= 0:
            raise InstrumentError("--websocket-max-connections: must be a positive number")

    @property
    def websockets(self) -> bool:
        """Only the ASGI middleware measures WebSockets (Django's are not seen by it)."""
        return self.framework == "fastapi"


def setup_lines(spec: AppSpec) -> list[str]:
    """The lines to add to the app."""
    if spec.framework == "fastapi":
        opts = ""
        if spec.naming != "instrumentator":
            opts += f', naming="{spec.naming}"'
        if spec.websocket_prefix != "websocket_":
            opts += f', websocket_prefix="{spec.websocket_prefix}"'
        return ["from guardia.instrument import instrument", f"instrument(app{opts})"]
    naming = (f'  GUARDIA_INSTRUMENT = {{"naming": "{spec.naming}"}}'
              if spec.naming != "instrumentator" else "")
    lines = ['settings.py: MIDDLEWARE = ["guardia.instrument.django.PrometheusMiddleware", *MIDDLEWARE]'
             + naming,
             'urls.py:     path("", include("guardia.instrument.django.urls")),']
    return lines


def _sel(spec: AppSpec, extra: str = "") -> str:
    return "{" + f'job="{spec.job}"' + (", " + extra if extra else "") + "}"


def _http(spec: AppSpec) -> dict[str, str]:
    """PromQL pieces for the naming: requests, 5xx requests, latency buckets, in progress."""
    if spec.naming == "django":
        return {
            "requests": "django_http_responses_total_by_status_view_method_total",
            "errors_sel": 'status=~"5.."',
            "bucket": "django_http_requests_latency_seconds_by_view_method_bucket",
            "by": "view",
            "inprogress": "django_http_requests_inprogress",
        }
    return {
        "requests": "http_requests_total",
        "errors_sel": 'status=~"5.."',  # matches "5xx" (grouped) and "503" alike
        "bucket": "http_request_duration_seconds_bucket",
        "by": "handler",
        "inprogress": "http_requests_inprogress",
    }


def scrape_config(spec: AppSpec, rule_file: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [rule_file],
        "scrape_configs": [{
            "job_name": spec.job,
            "scrape_interval": "10s",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [spec.target],
                                "labels": {"service": spec.framework, "component": "api"}}],
        }],
    }


def alert_rules(spec: AppSpec) -> dict[str, Any]:
    h = _http(spec)
    req, bucket = h["requests"], h["bucket"]
    job = spec.job
    rate_all = f"sum(rate({req}{_sel(spec)}[5m]))"
    buckets = f"sum by (le) (rate({bucket}{_sel(spec)}[5m]))"
    rules: list[dict[str, Any]] = [
        {"alert": "AppDown", "expr": f'up{_sel(spec)} == 0', "for": "1m",
         "labels": {"severity": "critical", "component": "api"},
         "annotations": {"summary": f"{job} is down on {{{{ $labels.instance }}}}",
                         "description": "The target has not answered scrapes for 1 minute."}},
        {"alert": "HighErrorRate",
         "expr": f"sum(rate({req}{_sel(spec, h['errors_sel'])}[5m]))\n  / {rate_all} > {spec.error_ratio}",
         "for": "5m", "labels": {"severity": "warning", "component": "api"},
         "annotations": {"summary": f"{job}: more than {spec.error_ratio:.0%} of requests fail with 5xx",
                         "description": "{{ $value | humanizePercentage }} of requests failed "
                                        "over the last 5 minutes."}},
        {"alert": "HighLatencyP95",
         "expr": f"histogram_quantile(0.95, {buckets}) > {spec.latency_p95}",
         "for": "5m", "labels": {"severity": "warning", "component": "api"},
         "annotations": {"summary": f"{job}: p95 latency above {spec.latency_p95} s (latency SLO)",
                         "description": "p95 latency is {{ $value | humanizeDuration }}."}},
        {"alert": "CriticalLatencyP99",
         "expr": f"histogram_quantile(0.99, {buckets}) > {spec.latency_p99}",
         "for": "2m", "labels": {"severity": "critical", "component": "api"},
         "annotations": {"summary": f"{job}: p99 latency above {spec.latency_p99} s",
                         "description": "p99 latency is {{ $value | humanizeDuration }}."}},
    ]
    groups: list[dict[str, Any]] = [{"name": f"{job}-http", "rules": rules}]
    if spec.websockets:
        p = spec.websocket_prefix
        cap = spec.websocket_max_connections
        groups.append({"name": f"{job}-websocket", "rules": [
            {"alert": "WebSocketSaturation",
             "expr": f"sum({p}active_connections{_sel(spec)}) / {cap} > 0.8",
             "for": "5m", "labels": {"severity": "warning", "component": "websocket"},
             "annotations": {"summary": f"{job}: WebSocket connections above 80% of {cap}",
                             "description": "{{ $value | humanizePercentage }} of the connection "
                                            "limit is in use."}},
            {"alert": "HighWebSocketConnections",
             "expr": f"sum({p}active_connections{_sel(spec)}) > {cap}",
             "for": "5m", "labels": {"severity": "critical", "component": "websocket"},
             "annotations": {"summary": f"{job}: more than {cap} WebSocket connections"}},
            {"alert": "WebSocketSendErrors",
             "expr": f"sum(rate({p}send_errors_total{_sel(spec)}[5m])) > 1",
             "for": "5m", "labels": {"severity": "warning", "component": "websocket"},
             "annotations": {"summary": f"{job}: WebSocket sends failing",
                             "description": "{{ $value }} failed sends per second."}},
        ]})
    return {"groups": groups}


def _panel(pid: int, title: str, x: int, y: int, w: int, targets: list[tuple[str, str]],
           unit: str = "short", kind: str = "timeseries") -> dict[str, Any]:
    return {
        "id": pid, "type": kind, "title": title,
        "gridPos": {"x": x, "y": y, "w": w, "h": 8},
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend}
                    for i, (e, legend) in enumerate(targets)],
    }


def dashboard(spec: AppSpec) -> dict[str, Any]:
    h = _http(spec)
    req, bucket, by = h["requests"], h["bucket"], h["by"]
    sel = '{job="$job"}'
    ri = "$__rate_interval"
    panels = [
        _panel(1, "Requests per second by " + by, 0, 0, 12,
               [(f"sum by ({by}) (rate({req}{sel}[{ri}]))", f"{{{{{by}}}}}")], "reqps"),
        _panel(2, "Error ratio (5xx)", 12, 0, 12,
               [(f'sum(rate({req}{{job="$job", status=~"5.."}}[{ri}])) / sum(rate({req}{sel}[{ri}]))',
                 "5xx")], "percentunit"),
        _panel(3, "Latency p50 / p95 / p99", 0, 8, 12,
               [(f"histogram_quantile({q}, sum by (le) (rate({bucket}{sel}[{ri}])))", f"p{int(q * 100)}")
                for q in (0.5, 0.95, 0.99)], "s"),
        _panel(4, "p95 latency by " + by, 12, 8, 12,
               [(f"histogram_quantile(0.95, sum by (le, {by}) (rate({bucket}{sel}[{ri}])))",
                 f"{{{{{by}}}}}")], "s"),
        _panel(5, "Requests in progress", 0, 16, 8, [(f"sum({h['inprogress']}{sel})", "in progress")]),
        _panel(6, "CPU per worker", 8, 16, 8,
               [(f"rate(process_cpu_seconds_total{sel}[{ri}])", "pid {{pid}}")], "percentunit"),
        _panel(7, "Memory per worker", 16, 16, 8,
               [(f"process_resident_memory_bytes{sel}", "pid {{pid}}")], "bytes"),
    ]
    if spec.websockets:
        p = spec.websocket_prefix
        panels += [
            _panel(8, "WebSocket connections", 0, 24, 8,
                   [(f"sum by (handler) ({p}active_connections{sel})", "{{handler}}")]),
            _panel(9, "WebSocket messages per second", 8, 24, 8,
                   [(f"sum(rate({p}messages_received_total{sel}[{ri}]))", "in"),
                    (f"sum(rate({p}messages_sent_total{sel}[{ri}]))", "out")]),
            _panel(10, "WebSocket message handling p95", 16, 24, 8,
                   [(f"histogram_quantile(0.95, sum by (le) "
                     f"(rate({p}message_latency_seconds_bucket{sel}[{ri}])))", "p95")], "s"),
        ]
    return {
        "uid": f"app-{spec.job}"[:40],
        "title": f"{spec.job} ({spec.framework})",
        "tags": ["guardia", "instrument", spec.framework],
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": 39,
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": f"label_values({req}, job)", "current": {"text": spec.job, "value": spec.job}},
        ]},
        "panels": panels,
    }
