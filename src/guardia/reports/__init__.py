"""Operations reports from stored data, with the evidence for every figure.

``build_report(source, ReportRequest(...))`` runs the sections (availability, latency, errors,
resources, cache, restarts, anomalies, alerts, deployments) over a ``Source`` (guardia's
engine over a store, or any Prometheus API) and scores the checks; ``render`` writes the
result as Markdown, JSON, HTML or PDF.  Every number is a ``Figure`` carrying the PromQL that
produced it, and what could not be evaluated is listed with the reason: no data is never a
pass.
"""

from guardia.reports.build import SCORE_FORMULA, ReportRequest, build_report
from guardia.reports.figures import Figure, NotEvaluated, Report, Section
from guardia.reports.render import render
from guardia.reports.settings import ReportSettings, parse_settings
from guardia.reports.source import EngineSource, HttpSource, Source, SourceError

__all__ = [
    "SCORE_FORMULA",
    "EngineSource",
    "Figure",
    "HttpSource",
    "NotEvaluated",
    "Report",
    "ReportRequest",
    "ReportSettings",
    "Section",
    "Source",
    "SourceError",
    "build_report",
    "parse_settings",
    "render",
]
