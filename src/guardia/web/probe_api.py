"""``/probe?target=&module=``: guardia answering as a Blackbox exporter does.

An external Prometheus whose scrape config points ``__address__`` at a Blackbox exporter can
point it at guardia instead: same parameters, same errors for a missing target or an unknown
module, same timeout rule (``X-Prometheus-Scrape-Timeout-Seconds`` minus half a second), same
metric text.  ``debug=true`` returns the failure reason, the metrics and the module, as the
exporter's debug output does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from guardia.config.schema import Model
from guardia.probes.modules import Module
from guardia.probes.prober import probe_timeout, run_probe
from guardia.probes.service import ProbeService
from guardia.web.plain import PlainRequest, PlainResponse, json_answer, text
from guardia.web.plain_router import Route

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def probe_routes(modules: Callable[[], Mapping[str, Module]]) -> list[Route]:
    """The ``/probe`` route over the modules ``modules()`` returns at request time (hot reload)."""

    async def probe(request: PlainRequest) -> PlainResponse:
        params = request.query
        target = params.get("target", "")
        if not target:
            return text("Target parameter is missing\n", 400)
        name = params.get("module", "http_2xx") or "http_2xx"
        module = modules().get(name)
        if module is None:
            return text(f'Unknown module "{name}"\n', 400)
        scrape_timeout: float | None = None
        header = request.header("X-Prometheus-Scrape-Timeout-Seconds")
        if header:
            try:
                scrape_timeout = float(header)
            except ValueError:
                return text(f"Failed to parse timeout from Prometheus header: {header!r} is not a number\n",
                            500)
        timeout = probe_timeout(module, scrape_timeout)
        result = await run_probe(target, module, timeout)
        if params.get("debug") == "true":
            verdict = "Probe succeeded" if result.success else f"Probe failed: {result.reason}"
            debug = (f"Probe of {target} with module {name} (prober {module.prober}, timeout {timeout:g}s):\n"
                     f"{verdict}\nduration_seconds={result.duration_s:.6f}\n\n\n\n"
                     f"Metrics that would have been returned:\n{result.render()}\n\n\n"
                     f"Module configuration:\n{_dump(module)}\n")
            return text(debug)
        return PlainResponse(result.render().encode("utf-8"), content_type=CONTENT_TYPE)

    return [Route("/probe", probe, ("GET",), name="/probe")]


def _dump(module: Module) -> str:
    import yaml

    data = module.model_dump() if isinstance(module, Model) else {}
    keep = {"prober": data.get("prober"), "timeout": data.get("timeout")}
    keep[module.prober] = data.get(module.prober)
    return yaml.safe_dump(keep, sort_keys=False, default_flow_style=False)


def monitors_view(service: ProbeService) -> list[dict[str, Any]]:
    """Every monitor with its targets' state and failure reasons: the ``/api/v1/probes`` answer
    and what the operators' ``/probes`` page shows, built once so the two never disagree."""
    out: list[dict[str, Any]] = []
    for m in service.config.monitors:
        out.append({
            "name": m.name,
            "description": m.description,
            "module": m.module_name,
            "kind": "heartbeat" if m.is_heartbeat else m.module.prober if m.module else "",
            "interval": m.interval_ms / 1000,
            "status": service.monitor_status(m.name),
            **({"heartbeat": {"period": m.heartbeat.period, "grace": m.heartbeat.grace}}
               if m.heartbeat else {}),
            "targets": [{
                "target": s.target, "status": s.status, "reason": s.reason,
                "lastProbe": s.last_ms / 1000 if s.last_ms else None,
                "lastDurationSeconds": s.last_duration_s,
                "since": s.since_ms / 1000 if s.since_ms else None,
                "failures": s.failures,
                "events": [{"time": t / 1000, "status": st, "reason": r} for t, st, r in s.events],
            } for s in service.state(m.name)],
        })
    return out


def push_routes(service: ProbeService) -> list[Route]:
    """Heartbeat pushes: Uptime Kuma's ``/api/push/<token>?status=up&msg=OK`` and healthchecks'
    ``/ping/<token>`` (``/ping/<token>/fail`` reports a failure), so existing cron lines work."""

    def push(token: str, status: str, msg: str) -> PlainResponse:
        if status not in ("up", "down"):
            return json_answer({"ok": False, "msg": "status must be up or down"}, 400)
        if service.push(token, status, msg) is None:
            return json_answer({"ok": False, "msg": "Monitor not found or not active."}, 404)
        return json_answer({"ok": True})

    async def kuma(request: PlainRequest) -> PlainResponse:
        q = request.query
        return push(request.path_params["token"], q.get("status", "up") or "up", q.get("msg", ""))

    async def ping(request: PlainRequest) -> PlainResponse:
        body = request.body[:1000].decode("utf-8", "replace")
        return push(request.path_params["token"], "up", body)

    async def ping_fail(request: PlainRequest) -> PlainResponse:
        body = request.body[:1000].decode("utf-8", "replace")
        return push(request.path_params["token"], "down", body)

    async def probes(request: PlainRequest) -> PlainResponse:
        out = monitors_view(service)
        return json_answer({"status": "success", "data": out})

    return [
        Route("/api/push/{token}", kuma, ("GET", "POST"), name="/api/push"),
        Route("/ping/{token}", ping, ("GET", "POST"), name="/ping", reads_body=True),
        Route("/ping/{token}/fail", ping_fail, ("GET", "POST"), name="/ping/fail", reads_body=True),
        Route("/api/v1/probes", probes, ("GET",), name="/api/v1/probes"),
    ]
