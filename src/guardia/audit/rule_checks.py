"""Checks of alerting and recording rules: on their own, and against the live store.

Static checks need only the rule files (and the scrape intervals, for ranges): ``$value`` in
labels, alerts without a comparison, ``absent()`` without ``for``, ``ALERTS`` references to
alerts nobody defines, templates that print labels the query cannot produce, ranges too
short for their scrape interval, recording rules nobody reads.  Live checks ask the store
(``live.Live``) what pint asks a Prometheus: whether each selector's metric exists, vanished,
or lacks the labels it is matched on; whether ``rate()`` reads a counter; whether the two sides
of a binary operator can ever match.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser

from guardia.audit import exprinfo as ei
from guardia.audit.finding import Finding, Severity
from guardia.audit.inputs import AuditInput
from guardia.audit.live import Live, LiveError
from guardia.config.rulefile import Rule, RuleFile
from guardia.promql.plan import Node
from guardia.rules.check import ALWAYS_PRESENT, similar


@dataclass(frozen=True, slots=True)
class RuleCtx:
    rf: RuleFile
    group: str
    rule: Rule
    line: int | None
    node: Node

    def finding(self, check: str, sev: Severity, msg: str, arg: str = "") -> Finding:
        return Finding(check, sev, self.rf.file, self.line, msg, self.rule.name, arg)


def each_rule(inp: AuditInput) -> Iterator[RuleCtx]:
    for rf in inp.rules:
        for gi, g in enumerate(rf.groups):
            for ri, r in enumerate(g.rules):
                node = ei.parse(r.expr)
                if node is not None:
                    yield RuleCtx(rf, g.name, r, inp.rule_line(rf, gi, ri), node)


def recorded(inp: AuditInput) -> set[str]:
    return {r.record for rf in inp.rules for g in rf.groups for r in g.rules if r.record}


# -- static ----------------------------------------------------------------------------------


def static_checks(inp: AuditInput, live_intervals: dict[str, float] | None = None) -> list[Finding]:
    out: list[Finding] = []
    alerts = inp.alert_names()
    read: set[str] = set()
    for c in each_rule(inp):
        uses = ei.selector_uses(c.node)
        read.update(u.name for u in uses if u.name)
        r = c.rule
        if r.alert:
            out += _alert_checks(c)
        for u in uses:
            if u.name in ("ALERTS", "ALERTS_FOR_STATE"):
                name = u.equal("alertname")
                if name is not None and name not in alerts:
                    out.append(c.finding(
                        "rule/alerts-ref", Severity.BUG,
                        f'reads {u.name}{{alertname="{name}"}} but no alerting rule is named "{name}", '
                        "so this selector never matches", name))
        out += _range_checks(c, uses, inp, live_intervals or {})
    slo_text = " ".join(_slo_queries(inp))
    for c in each_rule(inp):
        name = c.rule.record
        if name and name not in read and name not in slo_text:
            out.append(c.finding(
                "rule/unused", Severity.INFORMATION,
                f'no rule or SLO in the audited files reads "{name}"; if no dashboard does either, '
                "it only costs series", name))
    return out


def _slo_queries(inp: AuditInput) -> list[str]:
    out: list[str] = []
    for s in inp.slos:
        ind = getattr(s, "indicator", None)
        for attr in ("errors", "total", "raw", "metric"):
            v = getattr(ind, attr, None)
            if isinstance(v, str):
                out.append(v)
    return out


def _alert_checks(c: RuleCtx) -> list[Finding]:
    out: list[Finding] = []
    r = c.rule
    for k, v in r.labels.items():
        if ei.uses_value(v):
            out.append(c.finding(
                "alerts/value-in-labels", Severity.BUG,
                f'label "{k}" uses $value: the value changes every evaluation, so each one makes a '
                "new alert and the old one resolves (pending never reaches firing); put it in an "
                "annotation", k))
    if not ei.has_comparison(c.node):
        out.append(c.finding(
            "alerts/comparison", Severity.WARNING,
            "the condition compares nothing, so every series the query returns is an alert whatever "
            "its value; add a comparison such as '> 0'"))
    if any(True for _ in ei.calls(c.node, ei.ABSENT)) and not r.for_:
        out.append(c.finding(
            "alerts/absent", Severity.WARNING,
            "absent() without 'for' fires on one missed scrape or a restart of the store; give it "
            "'for:' of a few scrape intervals"))
    produced = ei.result_labels(c.node)
    for kind, items in (("label", r.labels), ("annotation", r.annotations)):
        for k, text in items.items():
            for label in sorted(ei.template_labels(text)):
                if not produced.may_have(label):
                    out.append(c.finding(
                        "alerts/template", Severity.BUG,
                        f'{kind} "{k}" prints $labels.{label}, but the query returns '
                        f"{produced.describe()}, so it is always empty; keep the label in the "
                        "aggregation (by/without) or drop it from the template", label))
    return out


def _interval_for(u: ei.SelectorUse, inp: AuditInput, live_intervals: dict[str, float]) -> float | None:
    jobs = {name: iv for _, name, iv in inp.jobs()} or live_intervals
    job = u.equal("job")
    if job is not None and job in jobs:
        return jobs[job]
    if inp.prometheus is not None:
        return inp.global_interval_s()
    return max(jobs.values()) if jobs else None


def _range_checks(c: RuleCtx, uses: list[ei.SelectorUse], inp: AuditInput,
                  live_intervals: dict[str, float]) -> list[Finding]:
    out: list[Finding] = []
    for u in uses:
        if u.func not in ei.TWO_SAMPLES or not u.range_ms:
            continue
        iv = _interval_for(u, inp, live_intervals)
        if not iv:
            continue
        rng = u.range_ms / 1000
        sel = f"{u.func}({u.text()}[{dur(rng)}])"
        if rng <= iv:
            out.append(c.finding(
                "promql/range", Severity.BUG,
                f"{sel} covers one scrape interval ({dur(iv)}): {u.func} needs two samples, and since "
                f"Prometheus 3 a range excludes its start, so [{dur(rng)}] over samples every "
                f"{dur(iv)} holds one sample and gives nothing; use at least [{dur(4 * iv)}]",
                u.name or ""))
        elif rng < 2 * iv:
            out.append(c.finding(
                "promql/range", Severity.WARNING,
                f"{sel} is under twice the scrape interval ({dur(iv)}): one late or missed scrape "
                f"leaves a single sample and no result (Prometheus 3 ranges exclude their start); "
                f"use at least [{dur(4 * iv)}]", u.name or ""))
    return out


def dur(s: float) -> str:
    if s >= 3600 and s % 3600 == 0:
        return f"{int(s // 3600)}h"
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m"
    return f"{s:g}s"


# -- live ------------------------------------------------------------------------------------


def live_checks(inp: AuditInput, live: Live) -> list[Finding]:
    out: list[Finding] = []
    known = live.metric_names()
    available = known | recorded(inp) | ALWAYS_PRESENT
    for c in each_rule(inp):
        seen: set[str] = set()
        for u in ei.selector_uses(c.node):
            name = u.name
            if name is None or u.in_absent or u.text() in seen:
                continue
            seen.add(u.text())
            if name not in available:
                hint = similar(name, known)
                out.append(c.finding(
                    "promql/series", Severity.BUG,
                    f"{name} has never existed on {live.name}, so this rule can never "
                    + ("fire" if c.rule.alert else "record anything")
                    + (f"; exposed with a similar name: {', '.join(hint)}" if hint else ""), name))
                continue
            if name not in known:
                continue  # produced by a recording rule (or ALERTS): nothing to ask
            out += _series_checks(c, u, live)
            if u.func in ei.COUNTER_FUNCS:
                kind = live.metric_type(name)
                if kind is not None and kind not in ("counter", "histogram", "summary"):
                    out.append(c.finding(
                        "promql/rate", Severity.BUG,
                        f"{u.func}() over {name}, which {live.name} says is a {kind}: {u.func} reads "
                        "resets as restarts and gives nonsense for values that go down; use "
                        "deriv() or delta() for gauges", name))
        if c.rule.alert or c.rule.record:
            out += _matching_checks(c, live)
        if c.rule.alert:
            out += _live_template_checks(c, live)
    return out


def _live_template_checks(c: RuleCtx, live: Live) -> list[Finding]:
    """Templates printing a label that none of the series the query reads carries (the static
    check cannot tell when the query keeps the series' labels)."""
    produced = ei.result_labels(c.node)
    if produced.names is not None:
        return []
    parts = (("label", c.rule.labels), ("annotation", c.rule.annotations))
    wanted = {(kind, k, label) for kind, items in parts for k, text in items.items()
              for label in ei.template_labels(text) if produced.may_have(label)}
    if not wanted:
        return []
    carried: set[str] = set()
    for u in ei.selector_uses(c.node):
        if u.name is None:
            return []
        found = live.series(u.text())
        if not found:
            return []  # no data to judge by (promql/series says why)
        for s in found:
            carried |= set(s)
    out = []
    for kind, k, label in sorted(wanted):
        if label not in carried:
            out.append(c.finding(
                "alerts/template", Severity.BUG,
                f'{kind} "{k}" prints $labels.{label}, but no series the query reads on {live.name} has a '
                f'"{label}" label (they have {", ".join(sorted(carried - {"__name__"}))}), so it is always '
                "empty", label))
    return out


def _series_checks(c: RuleCtx, u: ei.SelectorUse, live: Live) -> list[Finding]:
    name = u.name or ""
    series = live.series(name)
    if not series:
        return [c.finding(
            "promql/series", Severity.WARNING,
            f"{name} existed on {live.name} but has no series in the last hour: it vanished (a target "
            "down, a renamed metric, an exporter removed)", name)]
    matchers = u.label_matchers()
    if not matchers:
        return []
    out: list[Finding] = []
    for m in matchers:
        carrying = [s for s in series if m.name in s]
        if not carrying and not m.matches(""):
            out.append(c.finding(
                "promql/series", Severity.BUG,
                f"{u.text()}: no series of {name} has a \"{m.name}\" label, so this selector never "
                f"matches (its labels: {', '.join(sorted({k for s in series for k in s} - {'__name__'}))})",
                name))
            return out
    if not live.series(u.text()):
        hints = []
        for m in matchers:
            values = sorted({s[m.name] for s in series if m.name in s})
            if values:
                shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
                hints.append(f"{m.name} there: {shown}")
        out.append(c.finding(
            "promql/series", Severity.BUG,
            f"{u.text()} matches no series on {live.name} although {name} exists"
            + (f" ({'; '.join(hints)})" if hints else ""), name))
    return out


def _walk_binary(e: Any) -> Iterator[Any]:
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, promql_parser.BinaryExpr):
            yield n
            stack += [n.lhs, n.rhs]
        elif isinstance(n, (promql_parser.ParenExpr, promql_parser.AggregateExpr,
                            promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            stack.append(n.expr)
        elif isinstance(n, promql_parser.Call):
            stack += list(n.args)


def _is_vector(e: Any) -> bool:
    node = ei.parse(str(e))
    from guardia.promql.plan import value_type

    return node is not None and value_type(node) == "vector"


def _key(labels: dict[str, str], on: bool | None, names: list[str]) -> tuple[tuple[str, str], ...]:
    if on:
        return tuple((n, labels.get(n, "")) for n in sorted(names))
    skip = {"__name__", *names} if on is False else {"__name__"}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in skip))


def _show(keys: set[tuple[tuple[str, str], ...]]) -> str:
    return "{" + ", ".join(f'{a}="{v}"' for a, v in sorted(keys)[0]) + "}"


def _matching_checks(c: RuleCtx, live: Live) -> list[Finding]:
    try:
        tree = promql_parser.parse(c.rule.expr)
    except Exception:
        return []
    out: list[Finding] = []
    for b in _walk_binary(tree):
        op = str(b.op)
        if op == "or" or not (_is_vector(b.lhs) and _is_vector(b.rhs)):
            continue
        mod = b.modifier
        matching = mod.matching if mod is not None else None
        on: bool | None = None
        names: list[str] = []
        if matching is not None:
            on = "include" in str(matching.type).lower() or str(matching).startswith("on")
            names = list(matching.labels)
        try:
            lhs, rhs = live.query(str(b.lhs)), live.query(str(b.rhs))
        except LiveError:
            continue
        if not lhs or not rhs:
            continue
        lk = {_key(s, on, names) for s, _ in lhs}
        rk = {_key(s, on, names) for s, _ in rhs}
        if lk & rk:
            continue
        how = (f"on({', '.join(names)})" if on else f"ignoring({', '.join(names)})" if on is False
               else "all their labels")
        out.append(c.finding(
            "promql/vector-matching", Severity.BUG,
            f"the two sides of '{op}' never match on {how} on {live.name}: left gives {_show(lk)}, "
            f"right gives {_show(rk)}; match on the labels they share with on(...) or ignoring(...)",
            op))
    return out
