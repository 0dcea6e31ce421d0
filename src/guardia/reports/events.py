"""What happened in the window: alerts (from the ``ALERTS`` series the rule engine writes) and
deployments (``guardia_deployment_info``, one sample per deployment at its finish time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guardia.model import Labels, format_rfc3339
from guardia.reports.context import Ctx, label_dict
from guardia.reports.figures import Figure, Section
from guardia.reports.source import Points, Source

PAGING = ("critical", "page")
DEPLOY_METRIC = "guardia_deployment_info"
DEFAULT_EVAL_MS = 60_000


@dataclass(frozen=True, slots=True)
class Episode:
    labels: Labels
    start: int
    end: int
    ongoing: bool
    began_before: bool

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / 1000


def episodes(series: list[Points], start: int, end: int) -> list[Episode]:
    """Firing episodes: runs of ``ALERTS`` samples no further apart than two evaluation
    intervals (the median gap of the alert's samples).  An episode lasts from its first
    sample until one interval after its last (the evaluation that found it resolved), or
    to the window's end while it still fires."""
    gaps = [np.diff(s.t) for s in series if s.t.size > 1]
    default_iv = int(np.median(np.concatenate(gaps))) if gaps else DEFAULT_EVAL_MS
    out = []
    for s in series:
        t = s.t[np.isfinite(s.v)]
        if t.size == 0:
            continue
        iv = int(np.median(np.diff(t))) if t.size > 1 else default_iv
        cuts = np.flatnonzero(np.diff(t) > 2 * iv) + 1
        for run in np.split(t, cuts):
            first, last = int(run[0]), int(run[-1])
            ongoing = end - last <= 2 * iv
            stop = end if ongoing else min(end, last + iv)
            out.append(Episode(s.labels, first, stop, ongoing, first - start <= 2 * iv))
    return sorted(out, key=lambda e: (e.start, e.labels))


def _mine(ctx: Ctx, labels: Labels) -> bool:
    if not ctx.service:
        return True
    return ctx.service in (labels.get(ctx.by), labels.get("service"))


def alerts(ctx: Ctx) -> Section:
    sec = Section("alerts", "Alerts")
    w = ctx.window
    sel = 'ALERTS{alertstate="firing"}'
    query = f"{sel}[{w.w}]"
    series = [s for s in ctx.source.raw(sel, w.start, w.end) if _mine(ctx, s.labels)]
    eps = episodes(series, w.start, w.end)
    if not eps:
        evidence = f"count(count_over_time(prometheus_rule_group_last_evaluation_timestamp_seconds[{w.w}]))"
        if not ctx.at_end(evidence):
            fig = ctx.missing("alerts", {"severity": "critical"}, "no ALERTS series and no sign that "
                              "alerting rules were evaluated in the window (no "
                              "prometheus_rule_group_last_evaluation_timestamp_seconds)", query, "count")
            if fig is not None:
                sec.figures.append(fig)
            return sec
    by_name: dict[tuple[str, str], list[Episode]] = {}
    for e in eps:
        by_name.setdefault((e.labels.get("severity", "none"), e.labels.get("alertname")), []).append(e)
    severities = sorted({k[0] for k in by_name} | {"critical"})
    for sev in severities:
        names = sorted((n, by_name[(s, n)]) for s, n in by_name if s == sev)
        count = sum(len(es) for _, es in names)
        fig = Figure("alerts", {"severity": sev}, float(count), "count", query,
                     details=[{"alertname": n, "count": len(es), "firing_seconds": sum(e.seconds for e in es)}
                              for n, es in names])
        if sev in PAGING:
            fig.verdict = "pass" if count == 0 else "fail"
        sec.figures.append(fig)
    for (sev, name), es in sorted(by_name.items()):
        sec.figures.append(Figure(
            "alert_firing_time", {"alertname": name, "severity": sev}, sum(e.seconds for e in es),
            "seconds", query,
            details=[{"labels": label_dict(e.labels), "start": format_rfc3339(e.start),
                      "end": None if e.ongoing else format_rfc3339(e.end), "seconds": e.seconds,
                      "ongoing": e.ongoing, "began_before_window": e.began_before} for e in es]))
    sec.notes.append("From the ALERTS series: an episode runs from the first firing evaluation to one "
                     "evaluation interval after the last (when it was found resolved). Alerts of "
                     f"severity {' or '.join(PAGING)} fail the report.")
    return sec


def deployments(ctx: Ctx) -> Section:
    sec = Section("deployments", "Deployments")
    w = ctx.window
    sel = f'{DEPLOY_METRIC}{{service="{ctx.service}"}}' if ctx.service else DEPLOY_METRIC
    query = f"{sel}[{w.w}]"
    rows = []
    for s in ctx.source.raw(sel, w.start, w.end):
        lab = label_dict(s.labels)
        for t, v in zip(s.t.tolist(), s.v.tolist(), strict=True):
            if v != v:
                continue
            rows.append({"service": lab.get("service", ""), "version": lab.get("version", ""),
                         "status": lab.get("status", ""), "commit": lab.get("commit", ""),
                         "finished": format_rfc3339(int(v * 1000)), "recorded": format_rfc3339(t)})
    rows.sort(key=lambda r: r["finished"])
    if not rows:
        ctx.missing("deployments", {"service": ctx.service} if ctx.service else {},
                    f"no deployment recorded in the window ({DEPLOY_METRIC})", query, check=False)
        return sec
    bad = [r for r in rows if r["status"] in ("failed", "rolled_back")]
    sec.figures.append(Figure("deployments", {"service": ctx.service} if ctx.service else {},
                              float(len(rows)), "count", query, details=rows))
    sec.figures.append(Figure("failed_deployments", {"service": ctx.service} if ctx.service else {},
                              float(len(bad)), "count", query, verdict="fail" if bad else "pass",
                              details=bad, note="status failed or rolled_back"))
    return sec


class DeploymentNotFound(LookupError):
    pass


def find_deployment(source: Source, version: str, service: str, end_ms: int, lookback_ms: int) -> int:
    """When the deployment of ``version`` finished (ms): the latest one in the lookback."""
    matchers = [f'version="{version}"'] + ([f'service="{service}"'] if service else [])
    sel = f"{DEPLOY_METRIC}{{{', '.join(matchers)}}}"
    found = [float(v) for s in source.raw(sel, end_ms - lookback_ms, end_ms) for v in s.v.tolist() if v == v]
    if not found:
        raise DeploymentNotFound(f"no deployment of version {version!r}"
                                 + (f" of service {service!r}" if service else "")
                                 + f" recorded in the last {lookback_ms // 86_400_000} days "
                                 f"({sel}); record one through the deployments API first")
    return int(max(found) * 1000)
