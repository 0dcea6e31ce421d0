"""Checks that need the rule files and alertmanager.yml together.

Each file can be valid on its own and the pair still be wrong: an inhibition whose source
alert no rule produces never applies, and a route placed after a sibling that catches the
same alerts (without ``continue: true``) never receives anything.  GRUPO_GAD's config has
both (``InstanceDown`` is inhibited but never defined; the ``database-team`` and ``api-team``
routes sit behind the severity routes).  Only what is certain from the rules' own labels is
reported, as warnings: labels that come from the series at run time are treated as unknown,
so a route that *might* be reached is never flagged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from guardia.config.alertmanager import AlertmanagerConfig, Route
from guardia.config.errors import ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.rulefile import RuleFile
from guardia.config.yamlsource import YamlSource
from guardia.model.matchers import Matcher, MatchType

ALERTNAME = "alertname"


def alert_label_sets(rule_files: Iterable[RuleFile]) -> list[dict[str, str]]:
    """The labels every alerting rule is certain to carry (its ``labels`` plus ``alertname``)."""
    out = []
    for rf in rule_files:
        for g in rf.groups:
            for r in g.rules:
                if r.alert:
                    out.append({**g.labels, **r.labels, ALERTNAME: r.alert})
    return out


def _decide(m: Matcher, labels: dict[str, str]) -> bool | None:
    """True/False when the matcher's outcome is certain for an alert with ``labels``, else None."""
    if m.name not in labels:
        return None
    return m.matches(labels[m.name])


def _decide_all(ms: list[Matcher], labels: dict[str, str]) -> bool | None:
    result: bool | None = True
    for m in ms:
        d = _decide(m, labels)
        if d is False:
            return False
        if d is None:
            result = None
    return result


def _walk(route: Route, path: FieldPath, labels: dict[str, str], reached: set[FieldPath],
          wanted: set[FieldPath]) -> None:
    """Follow one alert down the tree the Alertmanager way, recording routes it may reach."""
    reached.add(path)
    caught = False
    for i, child in enumerate(route.routes):
        cpath: FieldPath = (*path, "routes", i)
        d = _decide_all(child.all_matchers(), labels)
        if d is not False and not caught:
            _walk(child, cpath, labels, reached, wanted)
        elif d is True and caught:
            # It certainly matches this route, but an earlier sibling certainly took it.
            wanted.add(cpath)
        if d is True and not child.continue_:
            caught = True


def check_coherence(
    am: AlertmanagerConfig, am_src: YamlSource | None, rule_files: Iterable[RuleFile],
    base: FieldPath = (),
) -> list[ConfigIssue]:
    """Warnings for alert names nobody defines and routes no defined alert can reach."""
    alerts = alert_label_sets(rule_files)
    if not alerts or am.route is None:
        return []
    names = {a[ALERTNAME] for a in alerts}
    issues: list[ConfigIssue] = []

    def warn(path: FieldPath, msg: str) -> None:
        full = (*base, *path)
        if am_src is not None:
            issues.append(am_src.issue(full, msg, severity="warning"))
        else:
            issues.append(ConfigIssue(am.file or "alertmanager.yml", None, None,
                                      ".".join(str(p) for p in full), msg, "warning"))

    raw = am_src.data if am_src is not None else None
    if base and isinstance(raw, dict):
        for part in base:
            raw = raw.get(part) if isinstance(raw, dict) else None
    raw_rules = raw.get("inhibit_rules") if isinstance(raw, dict) else None
    for i, rule in enumerate(am.inhibit_rules):
        for side, matchers in (("source", rule.sources()), ("target", rule.targets())):
            for m in matchers:
                if m.name == ALERTNAME and m.type is MatchType.EQUAL and m.value not in names:
                    raw_rule = raw_rules[i] if isinstance(raw_rules, list) and i < len(raw_rules) else None
                    warn(_matcher_path(("inhibit_rules", i), raw_rule, side, m.value),
                         f'no alerting rule in the checked rule files is named "{m.value}", so this '
                         f"inhibition's {side} never matches; define the alert or fix the name "
                         f"(known: {', '.join(sorted(names)[:8])}{', ...' if len(names) > 8 else ''})")

    reached: set[FieldPath] = set()
    shadowed: set[FieldPath] = set()
    for labels in alerts:
        _walk(am.route, ("route",), labels, reached, shadowed)
    for path in sorted(shadowed - reached, key=lambda p: [str(x) for x in p]):
        node = _node(am.route, path)
        receiver = node.receiver if node is not None and node.receiver else "(inherited)"
        warn(path, "no alert defined in the checked rule files can reach this route "
             f'(receiver "{receiver}"): every alert it matches is caught first by an earlier sibling '
             "route without 'continue: true'; reorder the routes or add continue: true to the earlier one")
    return issues


def _node(root: Route, path: FieldPath) -> Route | None:
    node: Route | None = root
    for part in path[1:]:
        if isinstance(part, int) and node is not None:
            node = node.routes[part] if part < len(node.routes) else None
    return node


def _matcher_path(base: FieldPath, raw_rule: Any, side: str, value: str) -> FieldPath:
    """Where an ``alertname`` matcher is written: ``source_match.alertname`` or ``source_matchers[j]``."""
    if isinstance(raw_rule, dict):
        legacy = raw_rule.get(f"{side}_match")
        if isinstance(legacy, dict) and ALERTNAME in legacy:
            return (*base, f"{side}_match", ALERTNAME)
        listed = raw_rule.get(f"{side}_matchers")
        if isinstance(listed, list):
            for j, text in enumerate(listed):
                if isinstance(text, str) and ALERTNAME in text and value in text:
                    return (*base, f"{side}_matchers", j)
    return base
