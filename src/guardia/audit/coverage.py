"""Coverage checks: what is monitored but would never page anyone.

Every scrape job needs an ``up == 0`` alert; a target down for more than a day is a gap
nobody noticed; an HTTP service without request metrics cannot have error-rate or latency
alerts (seed 000's first finding); a probe without an alert watches in silence; a TLS
certificate expiring within 14 days is tomorrow's outage; a retention shorter than the
longest rule range or SLO window makes those queries answer from partial data.
"""

from __future__ import annotations

import re
from pathlib import Path

from guardia.audit import exprinfo as ei
from guardia.audit.finding import Finding, Severity
from guardia.audit.inputs import AuditInput
from guardia.audit.live import Live, LiveError
from guardia.audit.rule_checks import RuleCtx, dur, each_rule

TLS_DAYS = 14
HTTP_METRIC = r"http_.*|.*_http_.*|.*_requests?_total|.*request_duration_seconds.*"
_HTTP_NAME = re.compile(HTTP_METRIC)
# target labels that say "this is a web application"
_WEB_SERVICE = re.compile(r"(?i)fastapi|django|flask|starlette|express|rails|spring|gunicorn|uvicorn|"
                          r"nginx|caddy|web|http|api")


def _covers(u: ei.SelectorUse, job: str) -> bool:
    return all(m.matches(job) for m in u.selector.matchers if m.name == "job")


def _alerts(inp: AuditInput) -> list[tuple[RuleCtx, list[ei.SelectorUse]]]:
    return [(c, ei.selector_uses(c.node)) for c in each_rule(inp) if c.rule.alert]


def coverage_checks(inp: AuditInput, live: Live | None = None,
                    retention_s: float | None = None) -> list[Finding]:
    out: list[Finding] = []
    alerts = _alerts(inp)
    pfile = inp.prometheus_file
    for i, job, _ in inp.jobs():
        if not any(u.name == "up" and _covers(u, job) for _, uses in alerts for u in uses):
            out.append(Finding(
                "coverage/up-alert", Severity.WARNING, pfile, inp.job_line(i),
                f'no alert fires when job "{job}" is down: add one on up{{job="{job}"}} == 0 '
                "(or a generic InstanceDown on up == 0)", arg=job))
    out += _commented_jobs(inp)
    probe_jobs: list[tuple[str, int | None]] = [(name, None) for name in inp.probes]
    if inp.prometheus is not None:
        probe_jobs += [(sc.job_name, i) for i, sc in enumerate(inp.prometheus.scrape_configs)
                       if sc.metrics_path.rstrip("/").endswith("/probe")]
    for name, idx in probe_jobs:
        if not any((u.name or "").startswith("probe_") and _covers(u, name)
                   for _, uses in alerts for u in uses):
            out.append(Finding(
                "coverage/probe-alert", Severity.WARNING, pfile,
                inp.job_line(idx) if idx is not None else _probe_line(inp, name),
                f'probe "{name}" has no alert: nobody hears when it fails; alert on '
                f'probe_success{{job="{name}"}} == 0', arg=name))
    if live is not None:
        out += _live_coverage(inp, live)
    ret = retention_s if retention_s is not None else (live.retention_s() if live is not None else None)
    if ret:
        out += _retention(inp, ret, live.name if live is not None and retention_s is None else "")
    return out


_COMMENTED_JOB = re.compile(r"^\s*#\s*-\s*job_name:\s*['\"]?([\w.-]+)")


def _commented_jobs(inp: AuditInput) -> list[Finding]:
    """Scrape jobs left commented out (seed 000: the Caddy exporter): what they would watch is
    not watched, and nothing else says so."""
    if not inp.prometheus_file:
        return []
    try:
        lines = Path(inp.prometheus_file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for i, line in enumerate(lines, 1):
        m = _COMMENTED_JOB.match(line)
        if m:
            out.append(Finding(
                "coverage/commented-job", Severity.INFORMATION, inp.prometheus_file, i,
                f'scrape job "{m.group(1)}" is commented out, so what it exposes is not monitored; '
                "enable it or delete it", arg=m.group(1)))
    return out


def _probe_line(inp: AuditInput, name: str) -> int | None:
    src = inp.source(inp.prometheus_file)
    data = src.data if src is not None and isinstance(src.data, dict) else {}
    for i, p in enumerate(data.get("probes") or []):
        if isinstance(p, dict) and p.get("name") == name:
            return inp.line(inp.prometheus_file, ("probes", i))
    return None


def http_jobs(inp: AuditInput) -> dict[str, str]:
    """Jobs that serve HTTP, with the evidence: rules or SLOs read their request metrics, or
    their target labels name a web framework."""
    out: dict[str, str] = {}
    for c in each_rule(inp):
        for u in ei.selector_uses(c.node):
            job = u.equal("job")
            if job and u.name and _HTTP_NAME.fullmatch(u.name):
                out.setdefault(job, f'rule "{c.rule.name}" reads {u.name}{{job="{job}"}}')
    for s in inp.slos:
        ind = getattr(s, "indicator", None)
        text = " ".join(str(getattr(ind, a, "") or "")
                        for a in ("errors", "total", "raw", "metric", "selector"))
        for job in re.findall(r'job\s*=\s*"([^"]+)"', text):
            if _HTTP_NAME.search(text):
                out.setdefault(job, f'SLO "{getattr(s, "name", "")}" reads HTTP request metrics '
                                    f'of job "{job}"')
    if inp.prometheus is not None:
        for sc in inp.prometheus.scrape_configs:
            for st in sc.static_configs:
                for k, v in st.labels.items():
                    if k in ("service", "component", "app") and _WEB_SERVICE.search(v):
                        out.setdefault(sc.job_name, f'its targets are labelled {k}="{v}"')
    return out


def _job_index(inp: AuditInput, job: str) -> int | None:
    return next((i for i, name, _ in inp.jobs() if name == job), None)


def _live_coverage(inp: AuditInput, live: Live) -> list[Finding]:
    out: list[Finding] = []
    pfile = inp.prometheus_file
    try:
        down = live.query("max_over_time(up[1d]) == 0 and up offset 1d")
    except LiveError:
        down = []
    for labels, _ in down:
        job, inst = labels.get("job", ""), labels.get("instance", "")
        idx = _job_index(inp, job)
        out.append(Finding(
            "coverage/target-down", Severity.BUG, pfile if idx is not None else "",
            inp.job_line(idx) if idx is not None else None,
            f'target {inst} of job "{job}" has been down for more than a day on {live.name} '
            "(up was 0 at every scrape): fix it or remove it", arg=inst))
    for job, why in sorted(http_jobs(inp).items()):
        try:
            ups = live.series(f'up{{job="{job}"}}')
            own = live.series(f'{{job="{job}",__name__!~"up|scrape_.*"}}')
            http = live.series(f'{{job="{job}",__name__=~"{HTTP_METRIC}"}}')
        except LiveError:
            continue
        if not ups or not own or http:
            continue  # not scraped, or down (another finding), or fine
        idx = _job_index(inp, job)
        names = sorted({s.get("__name__", "") for s in own})
        out.append(Finding(
            "coverage/http-metrics", Severity.BUG, pfile if idx is not None else "",
            inp.job_line(idx) if idx is not None else None,
            f'job "{job}" serves HTTP ({why}) but exposes no HTTP request metrics on {live.name} '
            f"(it exposes {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}): error-rate and "
            "latency alerts on it can never fire; instrument requests (http_requests_total, "
            "http_request_duration_seconds)", arg=job))
    try:
        certs = live.query(f"probe_ssl_earliest_cert_expiry - time() < {TLS_DAYS} * 86400")
    except LiveError:
        certs = []
    for labels, left in certs:
        inst = labels.get("instance", "")
        what = "has expired" if left <= 0 else f"expires in {left / 86400:.1f} days"
        out.append(Finding(
            "coverage/tls-expiry", Severity.BUG, "", None,
            f'the TLS certificate of {inst} (job "{labels.get("job", "")}") {what}: renew it '
            f"(checked on {live.name} via probe_ssl_earliest_cert_expiry)", arg=inst))
    return out


def _retention(inp: AuditInput, retention_s: float, where: str) -> list[Finding]:
    out: list[Finding] = []
    src = f" on {where}" if where else ""
    for c in each_rule(inp):
        longest = max((u.range_ms for u in ei.selector_uses(c.node)), default=0) / 1000
        longest = max(longest, _subquery_range(c) / 1000)
        if longest > retention_s:
            out.append(c.finding(
                "coverage/retention", Severity.BUG,
                f"reads {dur(longest)} of data but the retention{src} is {dur(retention_s)}: it "
                "answers from partial data; raise the retention or shorten the range"))
    for s in inp.slos:
        period = getattr(s, "period", None)
        window_s = getattr(period, "length_ms", 0) / 1000
        if window_s > retention_s:
            out.append(Finding(
                "coverage/retention", Severity.BUG, getattr(s, "file", ""), None,
                f'SLO "{getattr(s, "service", "")}/{getattr(s, "name", "")}" has a {period} window but '
                f"the retention{src} is {dur(retention_s)}: its budget is computed from partial "
                "data; raise the retention above the window", arg=getattr(s, "name", "")))
    return out


def _subquery_range(c: RuleCtx) -> int:
    import dataclasses

    from guardia.promql.plan import Subquery

    best = 0
    stack: list[object] = [c.node]
    while stack:
        n = stack.pop()
        if isinstance(n, Subquery):
            best = max(best, n.range_ms)
        if dataclasses.is_dataclass(n) and not isinstance(n, type):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n))
        elif isinstance(n, (list, tuple)):
            stack.extend(n)
    return best
