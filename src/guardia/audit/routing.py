"""Routing checks no linter has: they read the rules and alertmanager.yml together.

An alert whose labels match none of the routes reaches the default receiver by accident; a
route no current rule can reach pages nobody; an inhibition on a label no alert carries never
mutes anything; a receiver no route names is dead config; a placeholder or failing receiver
delivers nothing.  What ``guardia check config`` already reports for the pair (inhibitions of
alerts nobody defines, routes shadowed by an earlier sibling: ``config.coherence``) is taken
from it, not computed twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from guardia.audit import exprinfo as ei
from guardia.audit.finding import Finding, Severity
from guardia.audit.inputs import AuditInput
from guardia.audit.live import Live, LiveError
from guardia.audit.notify_tests import TestEvidence
from guardia.audit.rule_checks import RuleCtx, each_rule
from guardia.config.alertmanager import Route
from guardia.config.coherence import check_coherence
from guardia.config.errors import Path as FieldPath
from guardia.model.matchers import Matcher

ALERTNAME = "alertname"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The live delivery status of one receiver integration (the embedded Alertmanager's)."""

    receiver: str
    integration: str
    error: str
    failing_since_s: float
    failures: int
    index: int = 0
    last_attempt_s: float = 0.0

    @property
    def name(self) -> str:
        """``slack[0]``: as ``guardia notify test`` names the integration."""
        return f"{self.integration}[{self.index}]"


def _decide(ms: list[Matcher], labels: dict[str, str]) -> bool | None:
    """True/False when the route's matchers certainly do/don't match, None when a label the
    matchers read comes from the series (unknown until run time)."""
    result: bool | None = True
    for m in ms:
        if m.name not in labels:
            result = None
        elif not m.matches(labels[m.name]):
            return False
    return result


def _reach(route: Route, path: FieldPath, labels: dict[str, str], reached: set[FieldPath]) -> None:
    reached.add(path)
    caught = False
    for i, child in enumerate(route.routes):
        d = _decide(child.all_matchers(), labels)
        if d is not False and not caught:
            _reach(child, (*path, "routes", i), labels, reached)
        if d is True and not child.continue_:
            caught = True


def _routes(route: Route, path: FieldPath) -> Iterator[tuple[FieldPath, Route]]:
    yield path, route
    for i, child in enumerate(route.routes):
        yield from _routes(child, (*path, "routes", i))


def _alert_labels(c: RuleCtx) -> dict[str, str]:
    g = next((g for g in c.rf.groups if g.name == c.group), None)
    return {**(g.labels if g else {}), **c.rule.labels, ALERTNAME: c.rule.alert or ""}


def routing_checks(inp: AuditInput, live: Live | None = None, delivery: list[Delivery] | None = None,
                   tests: TestEvidence | None = None) -> list[Finding]:
    am = inp.alertmanager
    if am is None:
        return []
    out: list[Finding] = []
    file = inp.alertmanager_file
    alerts = [c for c in each_rule(inp) if c.rule.alert]
    coherent = _coherence(inp)
    out += coherent
    if am.route is not None and alerts:
        reached: set[FieldPath] = set()
        for c in alerts:
            labels = _alert_labels(c)
            mine: set[FieldPath] = set()
            _reach(am.route, ("route",), labels, mine)
            reached |= mine
            if am.route.routes and mine == {("route",)}:
                routing = sorted({m.name for _, r in _routes(am.route, ("route",)) for m in r.all_matchers()})
                out.append(c.finding(
                    "route/default", Severity.WARNING,
                    f'alert "{c.rule.alert}" matches none of the routes, so it reaches only the default '
                    f'receiver "{am.route.receiver}"; the routes match on {", ".join(routing)} and this '
                    "alert's labels do not route it (add the label, or a route for it)", c.rule.alert or ""))
        flagged = {f.line for f in coherent if f.check == "route/unreachable"}
        for path, r in _routes(am.route, ("route",)):
            line = inp.am_line(path)
            if path not in reached and line not in flagged:
                out.append(Finding(
                    "route/unreachable", Severity.WARNING, file, line,
                    f'no alert defined in the audited rules can reach this route (receiver '
                    f'"{r.receiver or "(inherited)"}", matching '
                    f'{", ".join(str(m) for m in r.all_matchers()) or "everything"})',
                    arg=r.receiver or ""))
    out += _inhibit_label_checks(inp, alerts, live)
    used = {r.receiver for _, r in _routes(am.route, ("route",)) if r.receiver} if am.route else set()
    for i, rcv in enumerate(am.receivers):
        if rcv.name not in used:
            out.append(Finding(
                "receiver/unused", Severity.WARNING, file, inp.am_line(("receivers", i)),
                f'receiver "{rcv.name}" is named by no route, so nothing is ever sent to it', arg=rcv.name))
    for issue in inp.placeholder_issues:
        out.append(Finding("receiver/placeholder", Severity.BUG, issue.file, issue.line,
                           f"{issue.path}: {issue.message}", arg=issue.path))
    failing = _failing_now(inp, delivery or [])
    named = {f.arg for f in failing}
    if tests is not None:
        failing += [f for f in _failed_tests(inp, tests, delivery or []) if f.arg not in named]
        named = {f.arg for f in failing}
        out += tests.findings()
    out += failing
    if live is not None:
        out += [f for f in _failing_receivers(inp, live) if f.arg not in named]
    return out


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _failed_tests(inp: AuditInput, tests: TestEvidence, delivery: list[Delivery]) -> list[Finding]:
    """Receivers whose last ``guardia notify test`` failed, unless the live Alertmanager has
    delivered through that integration since (then the test's failure is history)."""
    am = inp.alertmanager
    if am is None:
        return []
    delivered = {(d.receiver, d.name): d.last_attempt_s for d in delivery if d.last_attempt_s and not d.error}
    out: list[Finding] = []
    for (name, integ), o in sorted(tests.latest().items()):
        idx = next((i for i, r in enumerate(am.receivers) if r.name == name), None)
        if o.ok or idx is None or delivered.get((name, integ), 0.0) > o.time:
            continue
        if integ not in {f"{k}[{i}]" for k, i, _ in am.receivers[idx].integrations()}:
            continue  # the receiver no longer has that integration: the test was of another config
        out.append(Finding(
            "receiver/failing", Severity.BUG, inp.alertmanager_file, inp.am_line(("receivers", idx)),
            f'receiver "{name}" ({integ}) failed its last test at {_when(o.time)}'
            f"{f' (by {o.by})' if o.by else ''}: {o.error or 'no error text'}; fix it and run "
            f"`guardia notify test --receiver {name}` again (recorded in {tests.source})", arg=name))
    return out


def _failing_now(inp: AuditInput, delivery: list[Delivery]) -> list[Finding]:
    """Integrations whose last attempt failed, with the receiver's own error message."""
    am = inp.alertmanager
    out = []
    for d in delivery:
        if not d.failing_since_s:
            continue
        idx = next((i for i, r in enumerate(am.receivers) if r.name == d.receiver), None) if am else None
        since = _when(d.failing_since_s)
        out.append(Finding(
            "receiver/failing", Severity.BUG, inp.alertmanager_file if idx is not None else "",
            inp.am_line(("receivers", idx)) if idx is not None else None,
            f'receiver "{d.receiver}" ({d.integration}) has failed every notification since {since} '
            f"({d.failures} attempts): {d.error or 'no error text'}; `guardia notify test --receiver "
            f'{d.receiver}` tries it again', arg=d.receiver))
    return out


def _coherence(inp: AuditInput) -> list[Finding]:
    am = inp.alertmanager
    src = inp.source(inp.alertmanager_file)
    if am is None or not inp.rules:
        return []
    out = []
    for issue in check_coherence(am, src, inp.rules, inp.alertmanager_base):
        if "inhibit_rules" in issue.path:
            out.append(Finding("inhibit/unknown-alert", Severity.BUG, issue.file, issue.line,
                               f"{issue.path}: {issue.message}", arg=_quoted(issue.message, "named ")))
        else:
            out.append(Finding("route/unreachable", Severity.WARNING, issue.file, issue.line,
                               f"{issue.path}: {issue.message}", arg=_quoted(issue.message, "receiver ")))
    return out


def _quoted(message: str, after: str) -> str:
    """The first quoted name after ``after`` in a coherence message (the alert or receiver)."""
    _, _, rest = message.partition(after + '"')
    return rest.split('"', 1)[0]


def _possible_labels(alerts: list[RuleCtx], live: Live | None) -> tuple[set[str], bool]:
    """Labels some alert certainly or possibly carries; the flag is False when some alert may
    carry any label at all (its query keeps the series' labels and nothing says which)."""
    names: set[str] = set()
    for c in alerts:
        names |= set(_alert_labels(c))
        produced = ei.result_labels(c.node)
        if produced.names is not None:
            names |= produced.names
            continue
        if live is None:
            return names, False
        for u in ei.selector_uses(c.node):
            if u.name is None:
                return names, False
            try:
                for s in live.series(u.text()):
                    names |= set(s) - produced.dropped
            except LiveError:
                return names, False
    return names, True


def _inhibit_label_checks(inp: AuditInput, alerts: list[RuleCtx], live: Live | None) -> list[Finding]:
    am = inp.alertmanager
    if am is None or not am.inhibit_rules or not alerts:
        return []
    possible, complete = _possible_labels(alerts, live)
    if not complete:
        return []
    out = []
    for i, rule in enumerate(am.inhibit_rules):
        labels = {m.name for m in (*rule.sources(), *rule.targets()) if not m.matches("")}
        missing = sorted(n for n in labels | set(rule.equal) if n not in possible and n != ALERTNAME)
        for n in missing:
            why = ("it is compared in 'equal'" if n in rule.equal else "its matchers require it")
            out.append(Finding(
                "inhibit/labels", Severity.WARNING, inp.alertmanager_file, inp.am_line(("inhibit_rules", i)),
                f'no alert carries the label "{n}" ({why}), so this inhibition never applies as '
                "intended", arg=n))
    return out


def _failing_receivers(inp: AuditInput, live: Live) -> list[Finding]:
    try:
        rows = live.query("sum by (receiver_name, integration) "
                          "(increase(alertmanager_notifications_failed_total[1d])) > 0")
    except LiveError:
        return []
    am = inp.alertmanager
    out = []
    for labels, v in rows:
        name = labels.get("receiver_name", "")
        idx = next((i for i, r in enumerate(am.receivers) if r.name == name), None) if am else None
        out.append(Finding(
            "receiver/failing", Severity.BUG, inp.alertmanager_file if idx is not None else "",
            inp.am_line(("receivers", idx)) if idx is not None else None,
            f'receiver "{name}" ({labels.get("integration", "?")}) failed {v:.0f} notifications in the '
            f"last day on {live.name}; run `guardia notify test --receiver {name}` for the reason",
            arg=name))
    return out
