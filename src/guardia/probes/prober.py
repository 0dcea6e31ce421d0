"""Run one probe of a target with a module: the prober, the deadline, success and duration.

This is what ``/probe?target=&module=`` and the scheduled probes both call, so an external
Prometheus scraping guardia as its blackbox exporter and guardia's own probe series see the
same results.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import cast

from guardia.probes.modules import Module
from guardia.probes.result import ProbeResult

log = logging.getLogger("guardia.probes")

ProberFunc = Callable[[str, Module, ProbeResult], Awaitable[bool]]

# each prober's module is imported on its first probe: a process that probes nothing (most
# agents) never loads dnslib, decimal and the six probers (~1.2 MiB)
PROBERS: dict[str, str] = {
    "http": "guardia.probes.http:probe_http",
    "tcp": "guardia.probes.tcp:probe_tcp",
    "dns": "guardia.probes.dns:probe_dns",
    "icmp": "guardia.probes.icmp:probe_icmp",
    "grpc": "guardia.probes.grpc:probe_grpc",
    "websocket": "guardia.probes.websocket:probe_websocket",
}


def prober(name: str) -> ProberFunc:
    """The prober function of a module's ``prober`` (one of ``PROBERS``)."""
    module, _, func = PROBERS[name].partition(":")
    return cast(ProberFunc, getattr(importlib.import_module(module), func))

DEFAULT_TIMEOUT_S = 120.0
TIMEOUT_OFFSET_S = 0.5


def probe_timeout(module: Module, scrape_timeout_s: float | None = None) -> float:
    """The exporter's rule: the module's timeout, else the scraper's minus half a second."""
    budget = (scrape_timeout_s if scrape_timeout_s else DEFAULT_TIMEOUT_S) - TIMEOUT_OFFSET_S
    if module.timeout:
        return min(module.timeout / 1000, budget) if scrape_timeout_s else module.timeout / 1000
    return max(budget, 0.1)


async def run_probe(target: str, module: Module, timeout_s: float) -> ProbeResult:
    """Probe ``target``; never raises for what the target does (that is a failed result)."""
    probe = prober(module.prober)  # before the clock starts: a first probe imports its prober
    result = ProbeResult()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            ok = await probe(target, module, result)
    except TimeoutError:
        ok = result.fail(f"timed out after {timeout_s:g}s")
    except Exception as e:  # a prober bug must not take the scheduler or /probe down
        log.exception("event=probe_error prober=%s target=%s", module.prober, target)
        ok = result.fail(f"internal error in the {module.prober} prober: {type(e).__name__}: {e}")
    if not ok:
        result.success = False
    result.duration_s = time.perf_counter() - started
    result.set("probe_duration_seconds", result.duration_s)
    result.set("probe_success", 1 if result.success else 0)
    return result
