"""Grafana's field options beyond the defaults: value mappings and field overrides, read into
the plain shapes the browser applies (``frontend/src/fieldconfig.js``).

Value mappings come in three generations and all are read: Grafana 8+'s
``fieldConfig.defaults.mappings`` (``{"type": "value"|"range"|"regex"|"special", "options":
...}``), Grafana 7's ``[{"type": 1, "value": "0", "text": "Down"}, {"type": 2, "from": ...}]``,
and singlestat's ``valueMaps``/``rangeMaps``.  Each becomes a flat list of rules tried in
order: ``{"type": "value", "value": "1", "text": "Up", "color": "green"}``, ``{"type":
"range", "from": 0, "to": 10, ...}``, ``{"type": "regex", "pattern": ...}``, ``{"type":
"special", "match": "null"|"nan"|"null+nan"|"true"|"false"|"empty", ...}``.

Overrides keep Grafana's matchers (``byName``, ``byRegexp``, ``byFrameRefID``, ``byNames``,
``byType``, and ``byValue``: a series whose values, reduced, compare true with a number) and
turn the property list into one mapping of the settings guardia draws (unit, decimals, min,
max, displayName, color, thresholds, mappings, line width, fill, hidden series, negative-Y,
axis placement).  An override guardia cannot apply (another matcher, a property
it does not draw) is not an error, since dashboards from grafana.com carry many: it is named
in ``ignored`` and the panel says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MATCHERS = frozenset({"byName", "byRegexp", "byFrameRefID", "byNames", "byType", "byValue"})
SPECIAL = frozenset({"null", "nan", "null+nan", "true", "false", "empty"})
# byValue: the reducers and comparisons of Grafana's "Fields with values" matcher that the
# browser computes (frontend/src/reducers.js); allIsNull/allIsZero are true/false tests
REDUCERS = frozenset({"lastNotNull", "last", "firstNotNull", "first", "mean", "max", "min", "sum",
                      "count", "range", "delta", "diff", "allIsNull", "allIsZero"})
OPS = frozenset({"eq", "neq", "lt", "lte", "gt", "gte"})
AXIS_PLACEMENTS = frozenset({"auto", "left", "right", "hidden"})

Err = Callable[[str, str], None]


def _result(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(r, Mapping):
        if r.get("text") not in (None, ""):
            out["text"] = str(r["text"])
        if r.get("color"):
            out["color"] = str(r["color"])
    return out


def _num(v: Any, path: str, err: Err) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        err(path, "must be a number, not a boolean")
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        err(path, f"must be a number, not {v!r}")
        return None


def _regex(pattern: Any, path: str, err: Err) -> str | None:
    text = str(pattern or "")
    try:
        re.compile(text)
    except re.error as e:
        err(path, f"{pattern!r} is not a regular expression: {e}")
        return None
    return text


def read_mappings(raw: Any, path: str, err: Err) -> list[dict[str, Any]]:
    """Any generation of value mappings as a flat list of rules."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        err(path, f"must be a list, not {type(raw).__name__}")
        return []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(m, Mapping):
            err(p, f"must be an object, not {type(m).__name__}")
            continue
        kind = m.get("type")
        opts = m.get("options")
        if kind == "value" and isinstance(opts, Mapping):
            items = sorted(opts.items(), key=lambda kv: (kv[1] or {}).get("index", 0)
                           if isinstance(kv[1], Mapping) else 0)
            out.extend({"type": "value", "value": str(k), **_result(r)} for k, r in items)
        elif kind == "range" and isinstance(opts, Mapping):
            out.append({"type": "range", "from": _num(opts.get("from"), f"{p}.options.from", err),
                        "to": _num(opts.get("to"), f"{p}.options.to", err), **_result(opts.get("result"))})
        elif kind == "regex" and isinstance(opts, Mapping):
            pattern = _regex(opts.get("pattern"), f"{p}.options.pattern", err)
            if pattern is not None:
                out.append({"type": "regex", "pattern": pattern, **_result(opts.get("result"))})
        elif kind == "special" and isinstance(opts, Mapping):
            match = str(opts.get("match", ""))
            if match not in SPECIAL:
                err(f"{p}.options.match", f"{match!r} is not a special value: use one of "
                    + ", ".join(sorted(SPECIAL)))
                continue
            out.append({"type": "special", "match": match, **_result(opts.get("result"))})
        elif kind in (1, "1"):  # Grafana 7: value to text
            value = str(m.get("value", ""))
            if value == "null":
                out.append({"type": "special", "match": "null", **_result(m)})
            else:
                out.append({"type": "value", "value": value, **_result(m)})
        elif kind in (2, "2"):  # Grafana 7: range to text
            out.append({"type": "range", "from": _num(m.get("from"), f"{p}.from", err),
                        "to": _num(m.get("to"), f"{p}.to", err), **_result(m)})
        else:
            err(f"{p}.type", f"{kind!r} is not a value mapping type: use value, range, regex or special "
                "(with their options)")
    return out


def singlestat_mappings(p: Mapping[str, Any], path: str, err: Err) -> list[dict[str, Any]]:
    """singlestat's ``valueMaps`` and ``rangeMaps`` (Grafana before 7), when it maps by them."""
    out: list[dict[str, Any]] = []
    for i, vm in enumerate(p.get("valueMaps") or []):
        if isinstance(vm, Mapping):
            out.extend(read_mappings([{**vm, "type": 1}], f"{path}.valueMaps[{i}]", err))
    for i, rm in enumerate(p.get("rangeMaps") or []):
        if isinstance(rm, Mapping):
            out.extend(read_mappings([{**rm, "type": 2}], f"{path}.rangeMaps[{i}]", err))
    return out


def read_thresholds(raw: Any, path: str, err: Err) -> dict[str, Any]:
    t = raw if isinstance(raw, Mapping) else {}
    if raw is not None and not isinstance(raw, Mapping):
        err(path, f"must be an object, not {type(raw).__name__}")
    steps = []
    for i, s in enumerate(t.get("steps") or []):
        if isinstance(s, Mapping):
            steps.append({"color": str(s.get("color") or "green"),
                          "value": _num(s.get("value"), f"{path}.steps[{i}].value", err)})
    return {"mode": str(t.get("mode") or "absolute"), "steps": steps}


def axis_placement(value: Any, path: str, err: Err) -> str | None:
    """``custom.axisPlacement``: where a series' y axis is drawn (auto is left)."""
    if value in (None, ""):
        return "auto"
    if value not in AXIS_PLACEMENTS:
        err(path, f"{value!r} is not an axis placement: use auto, left, right or hidden")
        return None
    return str(value)


def _by_value(opts: Any, path: str, err: Err) -> dict[str, Any] | None:
    """byValue's options: ``{"reducer": "max", "op": "gte", "value": 10}`` (older
    dashboards say ``reduce``)."""
    o = opts if isinstance(opts, Mapping) else {}
    if not isinstance(opts, Mapping):
        err(path, "must be an object with reducer, op and value")
        return None
    reducer = str(o.get("reducer", o.get("reduce")) or "")
    if reducer not in REDUCERS:
        err(f"{path}.reducer", f"{reducer!r} is not a reducer: use one of " + ", ".join(sorted(REDUCERS)))
        return None
    if reducer in ("allIsNull", "allIsZero"):
        return {"reducer": reducer, "op": "eq", "value": None}
    op = str(o.get("op") or "gte")
    if op not in OPS:
        err(f"{path}.op", f"{op!r} is not a comparison: use one of " + ", ".join(sorted(OPS)))
        return None
    value = _num(o.get("value"), f"{path}.value", err)
    if value is None:
        if o.get("value") in (None, ""):
            err(f"{path}.value", "is missing: the number the reduced value is compared with")
        return None
    return {"reducer": reducer, "op": op, "value": value}


def _property(pid: str, value: Any, path: str, err: Err, props: dict[str, Any]) -> bool:
    """Put one override property into ``props``; False if guardia does not draw it."""
    if pid == "unit":
        props["unit"] = str(value or "")
    elif pid == "decimals":
        n = _num(value, path, err)
        props["decimals"] = None if n is None else int(n)
    elif pid in ("min", "max"):
        props[pid] = _num(value, path, err)
    elif pid == "displayName":
        props["displayName"] = str(value or "")
    elif pid == "noValue":
        props["noValue"] = str(value or "")
    elif pid == "color":
        c = value if isinstance(value, Mapping) else {}
        if c.get("mode") == "fixed" and c.get("fixedColor"):
            props["color"] = str(c["fixedColor"])
        elif c.get("mode") == "thresholds":
            props["color"] = None
        else:
            return False
    elif pid == "thresholds":
        props["thresholds"] = read_thresholds(value, path, err)
    elif pid == "mappings":
        props["mappings"] = read_mappings(value, path, err)
    elif pid in ("custom.fillOpacity", "custom.lineWidth"):
        n = _num(value, path, err)
        if n is not None:
            props["fillOpacity" if pid.endswith("fillOpacity") else "lineWidth"] = n
    elif pid == "custom.hideFrom":
        h = value if isinstance(value, Mapping) else {}
        props["hidden"] = bool(h.get("viz"))
        props["hideLegend"] = bool(h.get("legend"))
    elif pid == "custom.axisPlacement":
        placement = axis_placement(value, path, err)
        if placement is None:
            return True  # named as an error
        props["axisPlacement"] = placement
    elif pid == "custom.transform":
        if value not in ("negative-Y", "constant"):
            return False
        props["negativeY"] = value == "negative-Y"
    else:
        return False
    return True


def read_overrides(raw: Any, path: str, err: Err) -> tuple[list[dict[str, Any]], list[str]]:
    """The overrides guardia applies, and a description of each part it ignores."""
    if raw is None or raw == "":
        return [], []
    if not isinstance(raw, list):
        err(path, f"must be a list, not {type(raw).__name__}")
        return [], []
    out: list[dict[str, Any]] = []
    ignored: list[str] = []
    for i, o in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(o, Mapping):
            err(p, f"must be an object, not {type(o).__name__}")
            continue
        matcher = o.get("matcher")
        if not isinstance(matcher, Mapping) or not isinstance(matcher.get("id"), str):
            err(f"{p}.matcher", "must be an object with an id (byName, byRegexp, byFrameRefID, byValue, ...)")
            continue
        mid, opts = matcher["id"], matcher.get("options")
        if mid not in MATCHERS:
            ignored.append(f"override matcher {mid!r}")
            continue
        if mid == "byRegexp":
            pattern = _regex(opts, f"{p}.matcher.options", err)
            if pattern is None:
                continue
            opts = pattern
        elif mid == "byValue":
            opts = _by_value(opts, f"{p}.matcher.options", err)
            if opts is None:
                continue
        elif mid == "byNames":
            o_opts = opts if isinstance(opts, Mapping) else {}
            names = o_opts.get("names")
            opts = {"mode": str(o_opts.get("mode") or "include"),
                    "names": [str(n) for n in names] if isinstance(names, list) else []}
        else:
            opts = "" if opts is None else str(opts)
        props: dict[str, Any] = {}
        for j, prop in enumerate(_seq(o.get("properties"), f"{p}.properties", err)):
            pp = f"{p}.properties[{j}]"
            if not isinstance(prop, Mapping) or not isinstance(prop.get("id"), str):
                err(pp, "must be an object with an id (unit, color, displayName, ...)")
                continue
            if not _property(prop["id"], prop.get("value"), f"{pp}.value", err, props):
                ignored.append(f"override property {prop['id']!r}")
        if props:
            out.append({"matcher": {"id": mid, "options": opts}, "properties": props})
    return out, ignored


def _seq(v: Any, path: str, err: Err) -> Sequence[Any]:
    if v is None:
        return ()
    if not isinstance(v, list):
        err(path, f"must be a list, not {type(v).__name__}")
        return ()
    return v
