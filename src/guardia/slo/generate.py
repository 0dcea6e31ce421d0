"""An SLO as rule groups: SLI recordings per window, burn-rate alerts, an absent alert.

Names (``slo:error_ratio:rate5m``, labels ``slo_service``/``slo``/``slo_window``) are the
same whatever file the SLO came from, so a dashboard or a silence written for one SLO works
for all.  Each window pair is its own alert, labelled with the pair (``slo_long_window``,
``slo_short_window``) and the severity (``slo_severity`` page/ticket), so a page says which
burn fired.  Recordings come first in the group, so the alerts of an evaluation see the
recordings of the same evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from guardia.config.errors import ConfigError
from guardia.config.rulefile import RuleFile, parse_rule_file
from guardia.config.yamlsource import YamlSource
from guardia.model.durations import format_duration
from guardia.model.labels import escape_label_value
from guardia.slo.period import BurnWindow, burn_windows, windows_used
from guardia.slo.spec import SLO

ERROR_RATIO = "slo:error_ratio:rate"
EVENTS = "slo:events:rate"
ERRORS = "slo:errors:rate"
OBJECTIVE = "slo:objective:ratio"
PERIOD_ERROR_RATIO = "slo:period_error_ratio:ratio"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
BURN_RATE = "slo:burn_rate:ratio"
TIME_TO_EXHAUSTION = "slo:time_to_exhaustion:seconds"
ABSENT_ALERT = "SLOMetricAbsent"
ABSENT_FOR = "10m"

_DEFAULT_SEVERITY = {"page": "critical", "ticket": "warning"}


def selector(slo: SLO, name: str, **extra: str) -> str:
    """``name{slo_service="api",slo="availability",...}``: one SLO's series of ``name``."""
    ls = {**slo.id_labels, **extra}
    return name + "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in ls.items()) + "}"


def group_name(slo: SLO) -> str:
    return f"slo:{slo.service}:{slo.name}"


def base_window(slo: SLO) -> int:
    """The shortest alert window: its recordings feed the period budget."""
    return windows_used(slo.period)[0]


def _without_window(expr: str) -> str:
    return f"sum without (slo_window) ({expr})"


def recording_rules(slo: SLO) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    ind = slo.indicator
    labels = slo.series_labels
    for w in windows_used(slo.period):
        win = {**labels, "slo_window": format_duration(w)}
        rules.append({"record": f"{ERROR_RATIO}{format_duration(w)}",
                      "expr": ind.error_ratio_expr(w), "labels": win})
        if ind.counts_events:
            rules.append({"record": f"{EVENTS}{format_duration(w)}", "expr": ind.total_expr(w),
                          "labels": win})
    w0 = base_window(slo)
    if ind.counts_events:
        rules.append({"record": f"{ERRORS}{format_duration(w0)}", "expr": ind.errors_expr(w0),
                      "labels": {**labels, "slo_window": format_duration(w0)}})
    rules.append({"record": OBJECTIVE, "expr": f"vector({slo.objective!r})", "labels": dict(labels)})
    return rules


def _num(x: float) -> str:
    return repr(float(x)) if x != int(x) else str(int(x))


def ratio_ref(slo: SLO, window_ms: int, inline: bool = False) -> str:
    """The error ratio over a window: its recording, or (``inline``) the SLI query itself."""
    if inline:
        return f"({slo.indicator.error_ratio_expr(window_ms)})"
    return _without_window(selector(slo, ERROR_RATIO + format_duration(window_ms)))


def events_ref(slo: SLO, window_ms: int, inline: bool = False) -> str:
    if inline:
        return f"({slo.indicator.total_expr(window_ms)})"
    return _without_window(selector(slo, EVENTS + format_duration(window_ms)))


def burn_condition(slo: SLO, b: BurnWindow, inline: bool = False) -> str:
    """Both windows over ``factor`` times the budget, and both with enough traffic."""
    threshold = f"({_num(b.factor)} * {slo.budget!r})"
    parts = [f"{ratio_ref(slo, b.short_ms, inline)} > {threshold}",
             f"{ratio_ref(slo, b.long_ms, inline)} > {threshold}"]
    if slo.indicator.counts_events and slo.min_events > 0:
        # The traffic guard: a window with fewer events than this cannot alert anyone (two
        # requests and one error are a 50% error ratio, and no evidence of anything).
        for w in (b.short_ms, b.long_ms):
            parts.append(f"{events_ref(slo, w, inline)} * {w // 1000} >= {slo.min_events}")
    return "\nand\n".join(parts)


def absent_condition(slo: SLO, inline: bool = False) -> str:
    w0 = base_window(slo)
    if inline:
        q = slo.indicator.total_expr(w0) if slo.indicator.counts_events else \
            slo.indicator.error_ratio_expr(w0)
        return f"absent({q})"
    name = (EVENTS if slo.indicator.counts_events else ERROR_RATIO) + format_duration(w0)
    return f"absent({selector(slo, name)})"


def burn_alert(slo: SLO, b: BurnWindow) -> dict[str, Any]:
    spec = slo.alerting.page if b.severity == "page" else slo.alerting.ticket
    labels = {"severity": _DEFAULT_SEVERITY[b.severity], **slo.alerting.labels, **spec.labels,
              "slo_severity": b.severity, "slo_long_window": b.long, "slo_short_window": b.short}
    annotations = {
        "summary": f"{slo.service} {slo.name}: the error budget is burning {_num(b.factor)}x too fast",
        "description": (
            f"Over the last {b.long} and {b.short}, {{{{ $labels.slo_service }}}} "
            f"{{{{ $labels.slo }}}} failed more than {_num(b.factor)} times its error budget "
            f"({_num(round(slo.budget * 100, 10))}% of {slo.period}); at this rate the budget "
            f"lasts {format_duration(int(slo.period.nominal_ms / b.factor))}. Error ratio over "
            f"{b.short}: {{{{ $value | humanizePercentage }}}}."),
        **slo.alerting.annotations, **spec.annotations,
    }
    return {"alert": slo.alerting.name, "expr": burn_condition(slo, b), "labels": labels,
            "annotations": annotations}


def absent_alert(slo: SLO) -> dict[str, Any]:
    return {
        "alert": ABSENT_ALERT,
        "expr": absent_condition(slo),
        "for": ABSENT_FOR,
        "labels": {"severity": "warning", **slo.alerting.labels, "slo_service": slo.service,
                   "slo": slo.name},
        "annotations": {
            "summary": f"{slo.service} {slo.name}: the SLI has no data",
            "description": (f"The series behind SLO {slo.name} of {slo.service} have been absent "
                            f"for {ABSENT_FOR}: the SLO is blind. SLI: {slo.indicator.source}"),
        },
    }


def alert_rules(slo: SLO) -> list[dict[str, Any]]:
    a = slo.alerting
    if a.disable:
        return []
    out = []
    for b in burn_windows(slo.period):
        spec = a.page if b.severity == "page" else a.ticket
        if not spec.disable:
            out.append(burn_alert(slo, b))
    if a.absent:
        out.append(absent_alert(slo))
    return out


def rule_groups(slo: SLO) -> list[dict[str, Any]]:
    """One group; with a remote ``source``, the SLI recordings in a group of their own
    evaluated on that engine (``<group>-sli``, its results stored here), and the alerts, which
    read those recordings, in the group evaluated here."""
    if not slo.source:
        return [{"name": group_name(slo), "rules": recording_rules(slo) + alert_rules(slo)}]
    return [{"name": f"{group_name(slo)}-sli", "source": slo.source, "rules": recording_rules(slo)},
            {"name": group_name(slo), "rules": alert_rules(slo)}]


def budget_exprs(slo: SLO, range_ms: int, period_total_ms: int) -> dict[str, str]:
    """The budget series as PromQL over the last ``range_ms`` of recordings.

    A rolling period passes its length; a calendar period passes the time since the
    month/week began (guardia evaluates these itself each minute for calendar SLOs, since
    a PromQL range cannot follow the calendar).  ``period_total_ms`` is the whole period, for
    the time to exhaustion.
    """
    w0 = format_duration(base_window(slo))
    rng = format_duration(max(60_000, range_ms - range_ms % 1000))
    if slo.indicator.counts_events:
        ratio = (f"{_without_window(f'sum_over_time({selector(slo, ERRORS + w0)}[{rng}])')}\n/\n"
                 f"{_without_window(f'sum_over_time({selector(slo, EVENTS + w0)}[{rng}])')}")
    else:
        ratio = _without_window(f"avg_over_time({selector(slo, ERROR_RATIO + w0)}[{rng}])")
    budget = repr(slo.budget)
    remaining = f"1 - (\n{ratio}\n) / {budget}"
    current = burn_windows(slo.period)[0].long
    burn_now = f"{_without_window(selector(slo, ERROR_RATIO + current))} / {budget}"
    window_re = "|".join(format_duration(w) for w in windows_used(slo.period))
    burn = f'{{__name__=~"{ERROR_RATIO}({window_re})",{selector(slo, "")[1:-1]}}} / {budget}'
    tte = (f"clamp_min(\n{remaining}\n, 0) * {period_total_ms // 1000}\n/\n({burn_now})")
    return {PERIOD_ERROR_RATIO: ratio, BUDGET_REMAINING: remaining, BURN_RATE: burn,
            TIME_TO_EXHAUSTION: tte}


def period_ratio_expr(slo: SLO, range_ms: int) -> str:
    """The error ratio over ``range_ms`` straight from the SLI (no recordings needed)."""
    rng = max(60_000, range_ms - range_ms % 60_000)
    if slo.indicator.counts_events:
        return f"({slo.indicator.errors_expr(rng)})\n/\n({slo.indicator.total_expr(rng)})"
    w0 = base_window(slo)
    return (f"avg_over_time(({slo.indicator.error_ratio_expr(w0)})"
            f"[{format_duration(rng)}:{format_duration(w0)}])")


def budget_rules(slo: SLO) -> list[dict[str, Any]]:
    """For a Prometheus: the budget as recording rules over a rolling period."""
    p = slo.period.nominal_ms
    return [{"record": name, "expr": expr, "labels": dict(slo.series_labels)}
            for name, expr in budget_exprs(slo, p, p).items()]


def rule_file(slos: list[SLO], *, with_budget: bool = True, for_prometheus: bool = False) -> dict[str, Any]:
    """The rules as a rule file.  ``for_prometheus`` leaves out a remote ``source``: it is
    guardia's own group field, which Prometheus refuses, and the Prometheus that loads the file
    is where the data is (the SLI group keeps its name; the caller says so in the header)."""
    groups = []
    for slo in slos:
        for g in rule_groups(slo):
            rules = g["rules"]
            if with_budget and "source" not in g:  # the budget reads recordings stored here
                n = sum(1 for r in rules if "record" in r)
                rules = rules[:n] + budget_rules(slo) + rules[n:]
            kept = {k: v for k, v in g.items() if not (for_prometheus and k == "source")}
            groups.append(kept | {"rules": rules})
    return {"groups": groups}


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: Mapping[str, Any], header: str = "") -> str:
    text = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + text


def as_rule_file(slos: list[SLO], file: str, *, with_budget: bool = False) -> RuleFile:
    """The rules as the rule engine loads them (checked exactly like a rule file on disk)."""
    src = YamlSource(file, rule_file(slos, with_budget=with_budget))
    rf, issues = parse_rule_file(src)
    errors = [i for i in issues if i.severity == "error"]
    if rf is None or errors:
        raise ConfigError(errors or issues)
    return rf
