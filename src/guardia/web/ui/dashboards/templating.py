"""Template variables in queries: ``$var``, ``${var}``, ``${var:format}``, ``[[var]]`` and
the built-ins (``$__interval``, ``$__rate_interval``, ``$__range``, ...), with the
Prometheus data source's rules for multi-value and "All" selections."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from guardia.web.ui.dashboards.timerange import format_duration_ms

_VAR = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.[^:}]+)?(?::([^}]+))?\}")
_REGEX_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")

ALL = "$__all"


@dataclass(frozen=True, slots=True)
class Selected:
    """A variable's selection: its values, whether it may hold several, and whether "All" was
    picked (then ``all_value`` is used verbatim if the variable has one)."""

    values: tuple[str, ...]
    multi: bool = False
    is_all: bool = False
    all_value: str | None = None


def regex_escape(v: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), v)


def format_value(sel: Selected, fmt: str | None) -> str:
    if sel.is_all and sel.all_value is not None and fmt in (None, "regex", "pipe", "raw"):
        return sel.all_value
    vals = list(sel.values)
    if fmt is None:  # the Prometheus data source's default
        if not sel.multi:
            return vals[0] if vals else ""
        esc = [regex_escape(v) for v in vals]
        return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
    if fmt == "regex":
        esc = [regex_escape(v) for v in vals]
        return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
    if fmt == "pipe":
        return "|".join(vals)
    if fmt in ("csv", "raw", "text"):
        return ",".join(vals)
    if fmt == "json":
        return json.dumps(vals)
    if fmt == "glob":
        return vals[0] if len(vals) == 1 else "{" + ",".join(vals) + "}"
    if fmt == "doublequote":
        return ",".join(f'"{v}"' for v in vals)
    if fmt == "singlequote":
        return ",".join(f"'{v}'" for v in vals)
    if fmt == "percentencode":
        return quote(",".join(vals) if len(vals) != 1 else vals[0], safe="")
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in vals)
    return ",".join(vals)


def builtins(start_ms: int, end_ms: int, interval_ms: int, rate_interval_ms: int) -> dict[str, Selected]:
    rng = max(0, end_ms - start_ms)
    return {
        "__interval": Selected((format_duration_ms(interval_ms),)),
        "__interval_ms": Selected((str(interval_ms),)),
        "__rate_interval": Selected((format_duration_ms(rate_interval_ms),)),
        "__rate_interval_ms": Selected((str(rate_interval_ms),)),
        "__range": Selected((f"{rng // 1000}s",)),
        "__range_s": Selected((str(rng // 1000),)),
        "__range_ms": Selected((str(rng),)),
        "__from": Selected((str(start_ms),)),
        "__to": Selected((str(end_ms),)),
    }


def interpolate(text: str, scope: Mapping[str, Selected]) -> str:
    """``text`` with every known variable replaced; unknown ones are left as written."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        sel = scope.get(name)
        if sel is None:
            return m.group(0)
        return format_value(sel, fmt)

    return _VAR.sub(repl, text)


def referenced(text: str) -> set[str]:
    """Names of the variables ``text`` uses (for ordering variable resolution)."""
    return {m.group(1) or m.group(2) or m.group(4) for m in _VAR.finditer(text)}


def selection(values: Sequence[str], options: Sequence[str], *, multi: bool, include_all: bool,
              all_value: str | None) -> Selected:
    """What URL values (``var-x=a&var-x=b`` or ``var-x=$__all``) select among ``options``."""
    if include_all and (not values or ALL in values or ("All" in values and "All" not in options)):
        return Selected(tuple(options), multi=True, is_all=True, all_value=all_value)
    vals = tuple(values) if multi else tuple(values[:1])
    return Selected(vals, multi=multi)
