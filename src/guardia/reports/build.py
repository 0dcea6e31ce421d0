"""Build a report: run every section over one data source and score the checks.

``build_report`` is what the CLI, the scheduler and the benchmark call; sections that fail on
a query the source refuses are reported as not evaluated with the error, not dropped, so a
report over a half-working Prometheus still says what it could not see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardia.model import format_duration
from guardia.reports.anomalies import anomalies
from guardia.reports.availability import availability
from guardia.reports.context import Ctx, Window
from guardia.reports.events import alerts, deployments
from guardia.reports.figures import NotEvaluated, Report, Score, Section
from guardia.reports.performance import error_rates, latency
from guardia.reports.resources import caches, resources, restarts
from guardia.reports.settings import ReportSettings
from guardia.reports.source import Source, SourceError, SourceUnreachable

log = logging.getLogger("guardia.reports")

SECTIONS: tuple[tuple[str, str, Callable[[Ctx], Section]], ...] = (
    ("availability", "Availability", availability),
    ("latency", "Latency", latency),
    ("errors", "Errors and success", error_rates),
    ("resources", "Saturation and resources", resources),
    ("cache", "Cache hit ratio", caches),
    ("restarts", "Restarts", restarts),
    ("anomalies", "Anomalies", anomalies),
    ("alerts", "Alerts", alerts),
    ("deployments", "Deployments", deployments),
)

SCORE_FORMULA = ("score = 10 × passed ÷ (passed + failed + no data), over every check in the report; "
                 "a check without data counts as not passed")


@dataclass(frozen=True, slots=True)
class ReportRequest:
    window_ms: int
    baseline_ms: int
    end_ms: int = 0  # 0: now
    service: str = ""
    since_deploy: str = ""
    deploy_ms: int = 0  # when the --since-deploy version finished (the window's start)
    title: str = "Operations report"
    settings: ReportSettings = field(default_factory=ReportSettings)
    slos: Sequence[Any] = ()
    # counters read once for all rate figures (in-process sources); False: each figure as
    # its PromQL, the reference the tests compare with
    read_once: bool = True


def score(report: Report) -> Score:
    passed = failed = no_data = 0
    for f in report.figures():
        if f.verdict == "pass":
            passed += 1
        elif f.verdict == "fail":
            failed += 1
        elif f.verdict == "no_data":
            no_data += 1
    total = passed + failed + no_data
    value = round(10 * passed / total, 2) if total else None
    return Score(value, SCORE_FORMULA, passed, failed, no_data)


def window_of(req: ReportRequest) -> Window:
    if req.deploy_ms:
        end = min(req.deploy_ms + req.window_ms, req.end_ms or int(time.time() * 1000))
        return Window(req.deploy_ms, end, req.deploy_ms - req.baseline_ms,
                      Window.ending(end, end - req.deploy_ms, req.baseline_ms).interval)
    return Window.ending(req.end_ms or int(time.time() * 1000), req.window_ms, req.baseline_ms)


def build_report(source: Source, req: ReportRequest) -> Report:
    w = window_of(req)
    ctx = Ctx(source, w, req.settings, req.service, list(req.slos), read_once=req.read_once)
    report = Report(req.title, int(time.time() * 1000), w.start, w.end, w.baseline_start, w.baseline_end,
                    w.interval, source.description, req.service, req.since_deploy)
    for key, title, section in SECTIONS:
        try:
            report.sections.append(section(ctx))
        except SourceUnreachable:
            raise
        except SourceError as e:
            log.warning("event=report_section_failed section=%s error=%r", key, str(e))
            ctx.not_evaluated.append(NotEvaluated(key, {}, f"the data source refused a query: {e}"))
            report.sections.append(Section(key, title, notes=[f"Not evaluated: {e}"]))
    report.not_evaluated = ctx.not_evaluated
    report.score = score(report)
    report.coverage = _coverage(report)
    return report


def _coverage(report: Report) -> dict[str, Any]:
    """How much of the window the scrape data covers (from ``up``), so a report over a window
    with missing data says so at the top."""
    cov = [f for f in report.find("data_coverage", metric="up")]
    gaps = [g for f in cov for g in f.details]
    worst = min((f.value for f in cov if f.value is not None), default=None)
    out: dict[str, Any] = {"min_ratio": worst, "gaps": gaps,
                           "window": format_duration(report.end_ms - report.start_ms)}
    if worst is None:
        out["summary"] = "no scrape data (no up series) in the window"
    elif gaps:
        out["summary"] = (f"missing data: {len(gaps)} gap(s) in the window; the least covered service "
                          f"has data for {worst:.2%} of it")
    else:
        out["summary"] = "complete: every scraped series has data across the window"
    return out
