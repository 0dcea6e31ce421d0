"""Static checks of rule files (``guardia check rules``) and the orphan-metric check.

Besides what loading checks (syntax, PromQL, field rules, duplicate rules as warnings), every
alerting rule's label and annotation templates are parsed as Prometheus will expand them.
With a running guardia or Prometheus, each expression's metric names are looked up there: a
rule that reads a metric nobody exposes can never fire (seed 000: the alerts read
``websocket_connections_active`` while the app exposes ``ggrt_active_connections``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guardia.config.errors import ConfigError
from guardia.config.rulefile import RuleFile, parse_rule_file
from guardia.config.yamlsource import load_yaml
from guardia.model import METRIC_NAME, MatchType
from guardia.promql import PromQLError
from guardia.promql import parse as parse_promql
from guardia.promql.plan import VectorSelector
from guardia.template import check_alert_template

ALWAYS_PRESENT = {"ALERTS", "ALERTS_FOR_STATE"}


@dataclass
class FileReport:
    path: str
    rules: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rule_file: RuleFile | None = None


def check_file(path: str) -> FileReport:
    """Load and validate one rule file; errors and warnings carry file:line:col."""
    rep = FileReport(path)
    try:
        src = load_yaml(path)
    except ConfigError as e:
        rep.errors.extend(str(i) for i in e.issues)
        return rep
    except OSError as e:
        rep.errors.append(f"{path}: {e.strerror or e}")
        return rep
    rf, issues = parse_rule_file(src)
    for issue in issues:
        (rep.errors if issue.severity == "error" else rep.warnings).append(str(issue))
    if rf is None:
        return rep
    rep.rule_file = rf
    rep.rules = sum(len(g.rules) for g in rf.groups)
    for g in rf.groups:
        for ri, r in enumerate(g.rules):
            if r.alert is None:
                continue
            # The loader checks templates too; this keeps the check if it ever stops doing so.
            where = f'{path}: group "{g.name}", rule {ri + 1}, "{r.alert}"'
            for kind, items in (("label", r.labels), ("annotation", r.annotations)):
                for k, text in items.items():
                    err = check_alert_template(text, r.alert)
                    if err and not any(err in e for e in rep.errors):
                        rep.errors.append(f'{where}: {kind} "{k}": {err}')
    return rep


def selectors(expr: str) -> list[VectorSelector]:
    """Every vector selector in ``expr`` (walks the parsed plan generically)."""
    out: list[VectorSelector] = []

    def walk(n: Any) -> None:
        if isinstance(n, VectorSelector):
            out.append(n)
            return
        if dataclasses.is_dataclass(n) and not isinstance(n, type):
            for f in dataclasses.fields(n):
                walk(getattr(n, f.name, None))
        elif isinstance(n, (list, tuple)):
            for x in n:
                walk(x)

    walk(parse_promql(expr))
    return out


def metric_names(expr: str) -> tuple[set[str], list[str]]:
    """(exact metric names, regex patterns on __name__) an expression reads."""
    names: set[str] = set()
    patterns: list[str] = []
    for sel in selectors(expr):
        if sel.name:
            names.add(sel.name)
            continue
        for m in sel.matchers:
            if m.name != METRIC_NAME:
                continue
            if m.type == MatchType.EQUAL:
                names.add(m.value)
            elif m.type == MatchType.REGEX:
                patterns.append(m.value)
    return names, patterns


class Server:
    """The running guardia/Prometheus ``--url`` points at, asked through its HTTP API."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)
        self._series: dict[str, bool | None] = {}

    def metric_names(self) -> set[str]:
        r = self.client.get(self.url + "/api/v1/label/__name__/values")
        r.raise_for_status()
        body = r.json()
        if body.get("status") != "success":
            raise ValueError(f"{self.url} answered {body.get('errorType')}: {body.get('error')}")
        return set(body.get("data") or [])

    def has_series(self, selector: str) -> bool | None:
        """Whether ``selector`` matched any series in the last hour (None: cannot tell)."""
        if selector not in self._series:
            now = time.time()
            import httpx

            try:
                r = self.client.get(self.url + "/api/v1/series", params={
                    "match[]": selector, "start": f"{now - 3600:.3f}", "end": f"{now:.3f}"})
                ok = r.status_code == 200 and r.json().get("status") == "success"
                self._series[selector] = bool(r.json().get("data")) if ok else None
            except (httpx.HTTPError, ValueError):
                self._series[selector] = None
        return self._series[selector]

    def label_values(self, metric: str, label: str) -> list[str]:
        import httpx

        try:
            r = self.client.get(self.url + f"/api/v1/label/{label}/values",
                                params={"match[]": metric})
            return list(r.json().get("data") or []) if r.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return []

    def close(self) -> None:
        self.client.close()


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[_:]+", name) if w and w not in ("total", "bytes", "seconds")}


def similar(name: str, known: Iterable[str]) -> list[str]:
    """Exposed names that look like ``name`` (shared words or close spelling)."""
    known = list(known)
    words = _words(name)
    scored = []
    for k in known:
        shared = len(words & _words(k))
        if shared >= 2 or (shared >= 1 and len(words) == 1):
            scored.append((-shared, k))
    out = [k for _, k in sorted(scored)][:3]
    for k in difflib.get_close_matches(name, known, n=3, cutoff=0.75):
        if k not in out:
            out.append(k)
    return out[:3]


def missing_metrics(reports: list[FileReport], known: set[str], url: str,
                    server: Server | None = None) -> None:
    """Fill ``report.missing`` with one line per rule that reads absent metrics, or (with
    ``server``) whose selectors match no series although the metric exists, e.g. a
    ``job="api"`` when the job is called ``fastapi`` there."""
    recorded = {r.record for rep in reports if rep.rule_file
                for g in rep.rule_file.groups for r in g.rules if r.record}
    available = known | recorded | ALWAYS_PRESENT
    for rep in reports:
        if rep.rule_file is None:
            continue
        for g in rep.rule_file.groups:
            for ri, r in enumerate(g.rules):
                try:
                    names, patterns = metric_names(r.expr)
                except PromQLError:
                    continue
                absent = sorted(n for n in names if n not in available)
                for p in patterns:
                    rx = re.compile(p)
                    if not any(rx.fullmatch(n) for n in available):
                        absent.append(f"{{__name__=~{p!r}}}")
                if not absent:
                    if server is not None:
                        empty = _empty_selectors(r.expr, known, server)
                        if empty:
                            kind = "alert" if r.alert else "recording rule"
                            rep.missing.append(
                                f'{rep.path}: group "{g.name}", rule {ri + 1}, {kind} '
                                f'"{r.name}": selectors that match no series on {url}: '
                                + "; ".join(empty))
                    continue
                parts = []
                for n in absent:
                    hint = similar(n, known)
                    parts.append(n + (f" (exposed with a similar name: {', '.join(hint)})"
                                      if hint else ""))
                kind = "alert" if r.alert else "recording rule"
                rep.missing.append(
                    f'{rep.path}: group "{g.name}", rule {ri + 1}, {kind} "{r.name}": '
                    f"reads metrics that {url} does not have: {'; '.join(parts)}")


def _empty_selectors(expr: str, known: set[str], server: Server) -> list[str]:
    out = []
    for sel in selectors(expr):
        if not sel.name or sel.name not in known:
            continue
        others = [m for m in sel.matchers if m.name != METRIC_NAME]
        if not others:
            continue
        text = sel.name + "{" + ",".join(str(m) for m in others) + "}"
        if server.has_series(text) is not False:
            continue
        hints = []
        for m in others:
            values = server.label_values(sel.name, m.name)
            shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
            hints.append(f"{m.name} there: {shown}" if values else f"no {m.name} label there")
        out.append(f"{text} ({'; '.join(hints)})")
    return out
