"""Resolving a dashboard's template variables: their options (from the store for ``query``
variables) and what the URL selects (``var-NAME=``), in dashboard order so a variable can use
the ones before it (``label_values(up{job="$job"}, instance)``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guardia.model import Labels
from guardia.web.ui.dashboards.model import Dashboard, Variable, VariableOption
from guardia.web.ui.dashboards.reader import MetricsReader, SelectorError
from guardia.web.ui.dashboards.templating import ALL, Selected, interpolate, selection
from guardia.web.ui.dashboards.timerange import (
    TimeRange,
    TimeRangeError,
    format_duration_ms,
    nice_interval,
    parse_duration_ms,
)

_FUNC = re.compile(r"^\s*(label_values|label_names|metrics|query_result)\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True, slots=True)
class Resolved:
    variable: Variable
    options: tuple[VariableOption, ...]
    selected: Selected
    error: str = ""

    @property
    def name(self) -> str:
        return self.variable.name


def _split_custom(query: str) -> list[VariableOption]:
    """``a,b,c`` or ``Text : value`` pairs; ``\\,`` is a literal comma."""
    out = []
    for part in re.split(r"(?<!\\),", query):
        item = part.replace("\\,", ",").strip()
        if not item:
            continue
        text, sep, value = item.partition(" : ")
        out.append(VariableOption(text.strip(), value.strip()) if sep else VariableOption(item, item))
    return out


def _grafana_regex(regex: str) -> re.Pattern[str] | None:
    """Grafana writes variable regexes as ``/pattern/flags``; plain text is a pattern too."""
    r = regex.strip()
    if not r:
        return None
    flags = 0
    m = re.fullmatch(r"/(.*)/([gimsuy]*)", r, re.S)
    if m:
        r = m.group(1)
        if "i" in m.group(2):
            flags |= re.I
    r = re.sub(r"\(\?<(\w+)>", r"(?P<\1>", r)  # JS named groups
    return re.compile(r, flags)


def _apply_regex(values: Sequence[str], regex: str) -> list[VariableOption]:
    pat = _grafana_regex(regex)
    if pat is None:
        return [VariableOption(v, v) for v in values]
    out: list[VariableOption] = []
    seen: set[str] = set()
    for v in values:
        m = pat.search(v)
        if m is None:
            continue
        groups = m.groupdict()
        if groups.get("value") is not None or groups.get("text") is not None:
            value = groups.get("value") or groups.get("text") or v
            text = groups.get("text") or value
        elif m.groups():
            value = text = next((g for g in m.groups() if g is not None), v)
        else:
            value = text = v
        if value not in seen:
            seen.add(value)
            out.append(VariableOption(text, value))
    return out


def _sort(options: list[VariableOption], mode: int) -> list[VariableOption]:
    if mode in (1, 2):
        return sorted(options, key=lambda o: o.text, reverse=mode == 2)
    if mode in (3, 4):
        def num(o: VariableOption) -> float:
            m = re.search(r"-?\d+(?:\.\d+)?", o.text)
            return float(m.group(0)) if m else float("inf")
        return sorted(options, key=num, reverse=mode == 4)
    if mode in (5, 6):
        return sorted(options, key=lambda o: o.text.lower(), reverse=mode == 6)
    return options


def _args(text: str) -> list[str]:
    """Split ``metric{a="x,y"}, label`` at top-level commas."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _result_lines(result: object) -> list[str]:
    """``query_result()`` options: each sample as ``name{labels} value timestamp``."""
    lines = []
    rtype = getattr(result, "type", "")
    value = getattr(result, "value", None)
    if rtype == "vector":
        for s in value or ():
            labels: Labels = s.labels
            name = labels.get("__name__", "")
            inner = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
            lines.append(f"{name}{{{inner}}} {s.v:g} {s.t}")
    elif rtype == "scalar" and value is not None:
        lines.append(f"{float(value[1]):g} {int(value[0])}")
    return lines


def query_options(query: str, reader: MetricsReader, tr: TimeRange) -> list[str]:
    m = _FUNC.match(query)
    if not m:
        # a bare PromQL expression is run like query_result()
        return _result_lines(reader.instant(query, tr.end_ms)) if query.strip() else []
    func, args = m.group(1), _args(m.group(2))
    if func == "label_values":
        if len(args) == 1:
            return reader.label_values(args[0], "", tr.start_ms, tr.end_ms)
        if len(args) == 2:
            return reader.label_values(args[1], args[0], tr.start_ms, tr.end_ms)
        raise ValueError("label_values takes (label) or (metric, label)")
    if func == "label_names":
        return reader.label_names(args[0] if args else "", tr.start_ms, tr.end_ms)
    if func == "metrics":
        names = reader.label_values("__name__", "", tr.start_ms, tr.end_ms)
        if not args:
            return names
        pat = re.compile(args[0])
        return [n for n in names if pat.search(n)]
    return _result_lines(reader.instant(m.group(2), tr.end_ms))


def _interval_options(var: Variable, tr: TimeRange) -> tuple[list[VariableOption], str]:
    opts = _split_custom(var.query)
    auto_value = ""
    if var.auto:
        try:
            floor = parse_duration_ms(var.auto_min)
        except TimeRangeError:
            floor = 10_000
        auto_value = format_duration_ms(max(floor, nice_interval(tr.range_ms / var.auto_count)))
        opts.insert(0, VariableOption("auto", "$__auto_interval_" + var.name))
    return opts, auto_value


def resolve(dash: Dashboard, params: Mapping[str, Sequence[str]], reader: MetricsReader, tr: TimeRange,
            base_scope: Mapping[str, Selected], remote: Mapping[str, MetricsReader] | None = None
            ) -> list[Resolved]:
    """Every variable's options and selection; a variable whose query fails gets ``error``
    and no options, and the rest of the dashboard still renders.  A variable whose
    ``datasource`` names a remote engine (``remote``) asks that engine."""
    remote = remote or {}
    scope: dict[str, Selected] = dict(base_scope)
    out: list[Resolved] = []
    for var in dash.variables:
        error = ""
        options: list[VariableOption] = []
        auto_value = ""
        try:
            if var.type == "query":
                source = remote.get(interpolate(var.datasource, scope), reader)
                values = query_options(interpolate(var.query, scope), source, tr)
                options = _sort(_apply_regex(values, interpolate(var.regex, scope)), var.sort)
            elif var.type == "custom":
                options = _split_custom(var.query)
            elif var.type in ("constant", "textbox"):
                options = [VariableOption(var.query, var.query)]
            elif var.type == "interval":
                options, auto_value = _interval_options(var, tr)
            elif var.type == "datasource":
                # guardia itself, then each remote engine a panel may name as ${var}
                options = [VariableOption(n, n) for n in ("guardia", *sorted(remote))]
            else:
                error = f"variables of type {var.type!r} are not supported"
        except (SelectorError, ValueError, RuntimeError, re.error) as e:
            error = f"{var.type} query {var.query!r} failed: {e}"
        values = list(params.get(f"var-{var.name}", ()))
        option_values = [o.value for o in options]
        if var.type == "textbox" and values:
            sel = Selected((values[0],))
        elif var.type == "constant":
            sel = Selected((var.query,))
        else:
            if not values:
                # as Grafana: the saved selection if still offered, else the first entry
                # of the list, which is "All" when the variable has it
                values = [v for v in var.current if v in option_values or v in (ALL, "All")] \
                    or ([ALL] if var.include_all else option_values[:1])
            sel = selection(values, option_values, multi=var.multi, include_all=var.include_all,
                            all_value=var.all_value)
        if auto_value:
            sel = Selected(tuple(auto_value if v.startswith("$__auto_interval_") else v for v in sel.values),
                           multi=sel.multi)
        scope[var.name] = sel
        out.append(Resolved(var, tuple(options), sel, error))
    return out
