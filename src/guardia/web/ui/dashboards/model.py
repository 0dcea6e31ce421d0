"""Grafana's dashboard JSON model, read into typed objects.

Both layouts are read: the current one (``panels`` with ``gridPos``, rows as ``type: row``
panels, a collapsed row holding its panels) and the pre-5.0 one (``rows`` of panels sized by
``span``).  Errors name the field path (``panels[3].targets[0].expr``) and say what to fix;
everything a rendered dashboard does not use is kept in ``raw`` so a saved dashboard comes back
as it was uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from guardia.web.ui.dashboards.fieldconfig import (
    axis_placement,
    read_mappings,
    read_overrides,
    singlestat_mappings,
)

# Panel types drawn by the UI; "graph" and "singlestat" are the pre-7 names.
SUPPORTED_TYPES = frozenset(
    {"timeseries", "graph", "stat", "singlestat", "gauge", "bargauge", "table", "text"}
)


class DashboardError(ValueError):
    """A dashboard that cannot be used; ``problems`` lists every one found, each with its path."""

    def __init__(self, problems: Sequence[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class GridPos:
    x: int = 0
    y: int = 0
    w: int = 12
    h: int = 8


@dataclass(frozen=True, slots=True)
class Target:
    ref_id: str
    expr: str
    legend_format: str = ""
    interval: str = ""
    instant: bool = False
    hide: bool = False
    datasource: str = ""  # a remote_read entry's name runs it there; anything else: guardia


@dataclass(frozen=True, slots=True)
class Threshold:
    color: str
    value: float | None


@dataclass(frozen=True, slots=True)
class Panel:
    id: int
    type: str
    title: str
    grid: GridPos
    targets: tuple[Target, ...] = ()
    unit: str = ""
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: tuple[Threshold, ...] = ()
    thresholds_mode: str = "absolute"
    calc: str = "lastNotNull"
    color_mode: str = "value"
    description: str = ""
    interval: str = ""
    max_data_points: int | None = None
    content: str = ""
    mode: str = "markdown"
    legend: bool = True
    fill_opacity: float = 0
    line_width: float = 1
    # value mappings and field overrides in the shapes fieldconfig.py reads them into
    mappings: tuple[Mapping[str, Any], ...] = ()
    overrides: tuple[Mapping[str, Any], ...] = ()
    ignored: tuple[str, ...] = ()  # field options guardia does not apply, named for the page
    color: str = ""  # fieldConfig.defaults.color in "fixed" mode
    display_name: str = ""
    no_value: str = ""
    repeat: str = ""  # the variable the panel is repeated for
    repeat_direction: str = "h"
    max_per_row: int = 4
    datasource: str = ""  # the targets' source when they name none (see ``Target``)
    graph_mode: str = "none"  # a stat's sparkline: area, line or none
    axis_placement: str = "auto"  # fieldConfig.defaults.custom.axisPlacement

    @property
    def supported(self) -> bool:
        return self.type in SUPPORTED_TYPES

    def client_config(self) -> dict[str, Any]:
        """What the browser needs to draw the panel's data (sent with the page)."""
        return {
            "unit": self.unit, "decimals": self.decimals, "min": self.min, "max": self.max,
            "thresholds": {"mode": self.thresholds_mode,
                           "steps": [{"color": t.color, "value": t.value} for t in self.thresholds]},
            "calc": self.calc, "colorMode": self.color_mode, "legend": self.legend,
            "fillOpacity": self.fill_opacity, "lineWidth": self.line_width,
            "mappings": list(self.mappings), "overrides": list(self.overrides),
            "color": self.color or None, "displayName": self.display_name, "noValue": self.no_value,
            "graphMode": self.graph_mode, "axisPlacement": self.axis_placement,
        }


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    title: str
    collapsed: bool
    panels: tuple[Panel, ...]
    repeat: str = ""  # the variable the row (with its panels) is repeated for


@dataclass(frozen=True, slots=True)
class VariableOption:
    text: str
    value: str


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str
    label: str = ""
    query: str = ""
    regex: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    current: tuple[str, ...] = ()
    options: tuple[VariableOption, ...] = ()
    hide: int = 0
    sort: int = 0
    auto: bool = False
    auto_count: int = 30
    auto_min: str = "10s"
    datasource: str = ""


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    items: tuple[Panel | Row, ...]  # top-level panels and rows, in layout order
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ()
    time_from: str = "now-6h"
    time_to: str = "now"
    refresh: str = ""
    version: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict)

    def panels(self) -> list[Panel]:
        out: list[Panel] = []
        for it in self.items:
            out.extend(it.panels if isinstance(it, Row) else (it,))
        return out

    def panel(self, panel_id: int) -> Panel | None:
        return next((p for p in self.panels() if p.id == panel_id), None)

    def row_of(self, panel_id: int) -> Row | None:
        return next((r for r in self.items if isinstance(r, Row) and any(p.id == panel_id for p in r.panels)),
                    None)


def datasource_name(raw: Any) -> str:
    """A Grafana ``datasource`` field as a name: the string itself (older dashboards), or the
    object's ``uid`` (then ``name``).  guardia maps it to a ``remote_read`` entry of that name;
    any other (``Prometheus``, a uid of another Grafana, ``${DS_PROMETHEUS}``) is guardia."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping):
        return str(raw.get("uid") or raw.get("name") or "")
    return ""


def load_text(text: str, name: str = "") -> dict[str, Any]:
    """A dashboard document from JSON or YAML text (YAML for ``.yml``/``.yaml`` names or when
    the text is not JSON); an API-style ``{"dashboard": {...}}`` wrapper is removed."""
    data: Any
    as_yaml = name.endswith((".yml", ".yaml"))
    try:
        data = yaml.safe_load(text) if as_yaml else json.loads(text)
    except json.JSONDecodeError as e:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            msg = f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
            raise DashboardError([msg], name) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise DashboardError([f"not valid YAML{where}: {getattr(e, 'problem', e)}"], name) from None
    if isinstance(data, dict) and isinstance(data.get("dashboard"), dict) and "panels" not in data:
        data = data["dashboard"]
    if not isinstance(data, dict):
        raise DashboardError(["a dashboard must be a JSON object (a mapping in YAML)"], name)
    return data


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.next_id = 1

    def err(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def text(self, d: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
        v = d.get(key, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            self.err(f"{path}.{key}", f"must be a string, not {type(v).__name__}")
            return default
        return str(v)

    def number(self, v: Any, path: str) -> float | None:
        if v is None or v == "":
            return None
        if isinstance(v, bool):
            self.err(path, "must be a number, not a boolean")
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            self.err(path, f"must be a number, not {v!r}")
            return None

    def mapping(self, v: Any, path: str) -> Mapping[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            self.err(path, f"must be an object, not {type(v).__name__}")
            return {}
        return v

    def seq(self, v: Any, path: str) -> Sequence[Any]:
        if v is None or v == "":  # grafanalib writes an empty string for "no thresholds"
            return ()
        if not isinstance(v, list | tuple):
            self.err(path, f"must be a list, not {type(v).__name__}")
            return ()
        return v

    # -- panels --------------------------------------------------------------------------

    def panel_id(self, d: Mapping[str, Any], path: str, used: set[int]) -> int:
        raw = d.get("id")
        pid: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            pid = raw
        elif raw is not None:
            self.err(f"{path}.id", f"must be an integer, not {raw!r}")
        if pid is None or pid in used:
            while self.next_id in used:
                self.next_id += 1
            pid = self.next_id
        used.add(pid)
        return pid

    def grid(self, d: Mapping[str, Any], path: str, fallback: GridPos) -> GridPos:
        g = self.mapping(d.get("gridPos"), f"{path}.gridPos")
        if not g:
            return fallback
        vals = {}
        for k, default in (("x", 0), ("y", 0), ("w", 12), ("h", 8)):
            v = g.get(k, default)
            if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
                self.err(f"{path}.gridPos.{k}", f"must be a non-negative number, not {v!r}")
                v = default
            vals[k] = int(v)
        vals["w"] = max(1, min(24, vals["w"]))
        vals["h"] = max(1, vals["h"])
        return GridPos(**vals)

    def target(self, d: Any, path: str, index: int) -> Target | None:
        t = self.mapping(d, path)
        if not t:
            return None
        expr = self.text(t, "expr", path)
        if not expr.strip():
            if t.get("hide"):
                return None
            # a target of another data source kind (or an empty one): nothing to run
            return None
        return Target(
            ref_id=self.text(t, "refId", path, chr(ord("A") + index % 26)),
            expr=expr,
            legend_format=self.text(t, "legendFormat", path),
            interval=self.text(t, "interval", path),
            instant=bool(t.get("instant")) and not t.get("range", False),
            hide=bool(t.get("hide")),
            datasource=datasource_name(t.get("datasource")),
        )

    def panel(self, d: Any, path: str, used: set[int], fallback: GridPos) -> Panel | None:
        p = self.mapping(d, path)
        if not p:
            return None
        ptype = self.text(p, "type", path)
        if not ptype:
            self.err(f"{path}.type", "is missing: name the panel type (timeseries, stat, gauge, ...)")
            ptype = "unknown"
        fc = self.mapping(p.get("fieldConfig"), f"{path}.fieldConfig")
        defaults = self.mapping(fc.get("defaults"), f"{path}.fieldConfig.defaults")
        custom = self.mapping(defaults.get("custom"), f"{path}.fieldConfig.defaults.custom")
        options = self.mapping(p.get("options"), f"{path}.options")
        targets = tuple(
            t for i, raw in enumerate(self.seq(p.get("targets"), f"{path}.targets"))
            if (t := self.target(raw, f"{path}.targets[{i}]", i)) is not None
        )
        unit = self.text(defaults, "unit", path) or self._legacy_unit(p)
        th = self.mapping(defaults.get("thresholds"), f"{path}.fieldConfig.defaults.thresholds")
        steps = []
        for i, s in enumerate(self.seq(th.get("steps"), f"{path}.fieldConfig.defaults.thresholds.steps")):
            sm = self.mapping(s, f"{path}.fieldConfig.defaults.thresholds.steps[{i}]")
            if sm:
                steps.append(Threshold(str(sm.get("color") or "green"),
                                       self.number(sm.get("value"), f"{path}...steps[{i}].value")))
        reduce = self.mapping(options.get("reduceOptions"), f"{path}.options.reduceOptions")
        calcs = self.seq(reduce.get("calcs"), f"{path}.options.reduceOptions.calcs")
        calc = str(calcs[0]) if calcs else str(p.get("valueName") or "lastNotNull")
        decimals = defaults.get("decimals", p.get("decimals"))
        legend = self.mapping(options.get("legend"), f"{path}.options.legend")
        text_mode = self.text(options, "mode", path, "") or self.text(p, "mode", path, "markdown")
        content = self.text(options, "content", path) or self.text(p, "content", path)
        mdp = p.get("maxDataPoints")
        mappings = read_mappings(defaults.get("mappings"), f"{path}.fieldConfig.defaults.mappings", self.err)
        if not mappings and ptype == "singlestat":
            mappings = singlestat_mappings(p, path, self.err)
        overrides, ignored = read_overrides(fc.get("overrides"), f"{path}.fieldConfig.overrides", self.err)
        color = self.mapping(defaults.get("color"), f"{path}.fieldConfig.defaults.color")
        repeat = self.text(p, "repeat", path)
        per_row = p.get("maxPerRow")
        placement = axis_placement(custom.get("axisPlacement"),
                                   f"{path}.fieldConfig.defaults.custom.axisPlacement", self.err) or "auto"
        return Panel(
            id=self.panel_id(p, path, used),
            type=ptype,
            title=self.text(p, "title", path),
            grid=self.grid(p, path, fallback),
            targets=targets,
            unit=unit,
            decimals=_int(decimals),
            min=self.number(defaults.get("min", p.get("min")), f"{path}.fieldConfig.defaults.min"),
            max=self.number(defaults.get("max", p.get("max")), f"{path}.fieldConfig.defaults.max"),
            thresholds=tuple(steps),
            thresholds_mode=str(th.get("mode") or "absolute"),
            calc=calc,
            color_mode=str(options.get("colorMode") or "value"),
            description=self.text(p, "description", path),
            interval=self.text(p, "interval", path),
            max_data_points=n if (n := _int(mdp)) and n > 0 else None,
            content=content,
            mode=text_mode,
            legend=legend.get("showLegend", True) is not False and legend.get("displayMode") != "hidden",
            fill_opacity=float(custom.get("fillOpacity") or (p.get("fill") or 0) * 10),
            line_width=float(custom.get("lineWidth") or p.get("linewidth") or 1),
            mappings=tuple(mappings),
            overrides=tuple(overrides),
            ignored=tuple(ignored),
            color=str(color.get("fixedColor") or "") if color.get("mode") == "fixed" else "",
            display_name=self.text(defaults, "displayName", path),
            no_value=self.text(defaults, "noValue", path),
            repeat=repeat,
            repeat_direction="v" if p.get("repeatDirection") == "v" else "h",
            max_per_row=per_row if isinstance(per_row, int) and not isinstance(per_row, bool) and per_row > 0
            else 4,
            datasource=datasource_name(p.get("datasource")),
            graph_mode=self.graph_mode(ptype, p, options, path),
            axis_placement=placement,
        )

    def graph_mode(self, ptype: str, p: Mapping[str, Any], options: Mapping[str, Any], path: str) -> str:
        """A stat's ``options.graphMode`` (Grafana draws the sparkline, ``area``, unless told
        ``none``); singlestat's ``sparkline.show``."""
        if ptype == "singlestat":
            spark = p.get("sparkline")
            return "area" if isinstance(spark, Mapping) and spark.get("show") else "none"
        if ptype != "stat":
            return "none"
        mode = options.get("graphMode", "area")
        if mode not in ("area", "line", "none"):
            self.err(f"{path}.options.graphMode", f"{mode!r} is not a graph mode: use area, line or none")
            return "none"
        return str(mode)

    @staticmethod
    def _legacy_unit(p: Mapping[str, Any]) -> str:
        fmt = p.get("format")
        if isinstance(fmt, str):
            return fmt
        axes = p.get("yaxes")
        if isinstance(axes, list) and axes and isinstance(axes[0], Mapping):
            return str(axes[0].get("format") or "")
        return ""

    # -- layout --------------------------------------------------------------------------

    def items(self, data: Mapping[str, Any]) -> tuple[Panel | Row, ...]:
        used: set[int] = set()
        out: list[Panel | Row] = []
        if "panels" in data:
            current: list[Panel] | None = None
            row_meta: tuple[int, str, bool, str] | None = None
            for i, raw in enumerate(self.seq(data.get("panels"), "panels")):
                path = f"panels[{i}]"
                p = self.mapping(raw, path)
                if p.get("type") == "row":
                    if row_meta is not None and current is not None:
                        out.append(Row(*row_meta[:3], tuple(current), row_meta[3]))
                    rid = self.panel_id(p, path, used)
                    collapsed = bool(p.get("collapsed"))
                    current = []
                    row_meta = (rid, self.text(p, "title", path), collapsed, self.text(p, "repeat", path))
                    if collapsed:
                        for j, inner in enumerate(self.seq(p.get("panels"), f"{path}.panels")):
                            panel = self.panel(inner, f"{path}.panels[{j}]", used, GridPos())
                            if panel is not None:
                                current.append(panel)
                    continue
                panel = self.panel(p, path, used, GridPos())
                if panel is None:
                    continue
                if current is not None:
                    current.append(panel)
                else:
                    out.append(panel)
            if row_meta is not None and current is not None:
                out.append(Row(*row_meta[:3], tuple(current), row_meta[3]))
        elif "rows" in data:  # the pre-5.0 layout: rows of panels with a 12-column span
            for i, raw in enumerate(self.seq(data.get("rows"), "rows")):
                r = self.mapping(raw, f"rows[{i}]")
                height = _legacy_height(r.get("height"))
                panels: list[Panel] = []
                x = 0
                for j, inner in enumerate(self.seq(r.get("panels"), f"rows[{i}].panels")):
                    span = inner.get("span", 12) if isinstance(inner, Mapping) else 12
                    w = max(1, min(24, int(float(span) * 2))) if isinstance(span, int | float) else 24
                    if x + w > 24:
                        x = 0
                    panel = self.panel(inner, f"rows[{i}].panels[{j}]", used, GridPos(x, 0, w, height))
                    x += w
                    if panel is not None:
                        panels.append(panel)
                title = self.text(r, "title", f"rows[{i}]") if r.get("showTitle", True) else ""
                out.append(Row(-(i + 1), title, bool(r.get("collapse")), tuple(panels),
                               self.text(r, "repeat", f"rows[{i}]")))
        return tuple(out)

    # -- templating ----------------------------------------------------------------------

    def variable(self, raw: Any, path: str) -> Variable | None:
        v = self.mapping(raw, path)
        if not v:
            return None
        name = self.text(v, "name", path)
        if not name:
            self.err(f"{path}.name", "is missing: every variable needs the name queries use as $name")
            return None
        q = v.get("query", "")
        if isinstance(q, Mapping):  # newer Grafana: {"query": "label_values(...)", "refId": ...}
            q = q.get("query", "")
        cur = self.mapping(v.get("current"), f"{path}.current")
        cur_value = cur.get("value", ())
        values = cur_value if isinstance(cur_value, list) else [cur_value]
        current = tuple(str(x) for x in values if x != "")
        options = []
        for i, o in enumerate(self.seq(v.get("options"), f"{path}.options")):
            om = self.mapping(o, f"{path}.options[{i}]")
            if om:
                val = om.get("value", om.get("text", ""))
                options.append(VariableOption(str(om.get("text", val)), str(val)))
        hide = v.get("hide", 0)
        sort = v.get("sort", 0)
        count = v.get("auto_count", 30)
        return Variable(
            name=name,
            type=self.text(v, "type", path, "query"),
            label=self.text(v, "label", path),
            query=str(q or ""),
            regex=self.text(v, "regex", path),
            multi=bool(v.get("multi")),
            include_all=bool(v.get("includeAll")),
            all_value=v.get("allValue") if isinstance(v.get("allValue"), str) and v.get("allValue") else None,
            current=current,
            options=tuple(options),
            hide=hide if isinstance(hide, int) else 0,
            sort=sort if isinstance(sort, int) else 0,
            auto=bool(v.get("auto")),
            auto_count=count if isinstance(count, int) and count > 0 else 30,
            auto_min=self.text(v, "auto_min", path, "10s"),
            datasource=datasource_name(v.get("datasource")),
        )


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _legacy_height(h: Any) -> int:
    """Pre-5.0 row heights were pixels ("250px"); the grid has 30 px units."""
    if isinstance(h, str) and h.endswith("px"):
        h = h[:-2]
    try:
        return max(3, round(float(h) / 32))
    except (TypeError, ValueError):
        return 8


def parse_dashboard(data: Mapping[str, Any], source: str = "") -> Dashboard:
    """A ``Dashboard`` from Grafana's JSON model; raises ``DashboardError`` listing every problem."""
    r = _Reader()
    title = r.text(data, "title", "dashboard")
    if not title.strip():
        r.err("title", "is missing: a dashboard needs a title")
    uid = r.text(data, "uid", "dashboard")
    if uid and (len(uid) > 40 or not all(c.isalnum() or c in "-_." for c in uid)):
        r.err("uid", f"{uid!r} is not a usable uid: use at most 40 letters, digits, '-', '_' or '.'")
    items = r.items(data)
    templating = r.mapping(data.get("templating"), "templating")
    variables = tuple(
        v for i, raw in enumerate(r.seq(templating.get("list"), "templating.list"))
        if (v := r.variable(raw, f"templating.list[{i}]")) is not None
    )
    names = [v.name for v in variables]
    for n in {n for n in names if names.count(n) > 1}:
        r.err("templating.list", f"variable {n!r} is defined more than once")
    for it in items:
        for p in (it.panels if isinstance(it, Row) else (it,)):
            if p.repeat and p.repeat not in names:
                r.err(f"panel {p.id} ({p.title!r}).repeat", f"repeats by {p.repeat!r}, which is not a "
                      "template variable: add it to templating.list or remove repeat")
        if isinstance(it, Row) and it.repeat and it.repeat not in names:
            r.err(f"row {it.title!r}.repeat", f"repeats by {it.repeat!r}, which is not a template variable: "
                  "add it to templating.list or remove repeat")
    time = r.mapping(data.get("time"), "time")
    tags = tuple(str(t) for t in r.seq(data.get("tags"), "tags"))
    version = data.get("version", 0)
    refresh = data.get("refresh", "")
    if r.problems:
        raise DashboardError(r.problems, source)
    return Dashboard(
        uid=uid, title=title, items=items, variables=variables, tags=tags,
        time_from=str(time.get("from") or "now-6h"), time_to=str(time.get("to") or "now"),
        refresh=refresh if isinstance(refresh, str) else "",
        version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
        raw=data,
    )
