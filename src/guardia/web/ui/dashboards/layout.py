"""Where each panel of a dashboard goes on the page: sections (top-level panels, rows),
panel copies for repeated panels and rows, and the grid position of each copy.

A panel with ``repeat: VAR`` is drawn once per selected value of ``$VAR`` (every option
when "All" is selected), each copy with ``$VAR`` standing for its one value, as Grafana
does: side by side (``repeatDirection: h``, at most ``maxPerRow`` a row, sharing the width)
or one under another (``v``).  Panels below a repeated panel move down by the rows its
copies add.  A row with ``repeat: VAR`` is drawn once per value with all its panels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from guardia.web.ui.dashboards.markdown import render_text_panel
from guardia.web.ui.dashboards.model import Dashboard, GridPos, Panel, Row
from guardia.web.ui.dashboards.templating import Selected, interpolate


@dataclass(frozen=True, slots=True)
class PanelView:
    panel: Panel
    row_y: int
    title: str
    grid: GridPos
    dom_id: str  # data-panel-id: the panel id, "-N" added for the Nth copy of a repeated one
    repeat: Mapping[str, str] = field(default_factory=dict)  # variable -> this copy's value

    @property
    def style(self) -> str:
        g = self.grid
        return f"grid-column: {g.x + 1} / span {g.w}; grid-row: {g.y - self.row_y + 1} / span {g.h}"

    @property
    def kind(self) -> str:
        return "stat" if self.panel.type == "singlestat" else self.panel.type

    @property
    def config_json(self) -> Markup:
        return Markup(json.dumps(self.panel.client_config()).replace("<", "\\u003c"))

    @property
    def repeat_json(self) -> str:
        return json.dumps(self.repeat) if self.repeat else ""

    @property
    def text_html(self) -> Markup:
        return render_text_panel(self.panel.content, self.panel.mode)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    collapsed: bool
    panels: list[PanelView]


def repeat_values(var: str, scope: Mapping[str, Selected]) -> tuple[str, ...]:
    sel = scope.get(var)
    return sel.values if sel is not None else ()


def scoped(scope: Mapping[str, Selected], fixed: Mapping[str, str]) -> dict[str, Selected]:
    """``scope`` with each repeat variable standing for one value."""
    return {**scope, **{k: Selected((v,)) for k, v in fixed.items()}}


class _Ids:
    """data-panel-id for each copy: the first keeps the panel id, as links to it expect."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def __call__(self, pid: int) -> str:
        n = self.seen.get(pid, 0)
        self.seen[pid] = n + 1
        return str(pid) if n == 0 else f"{pid}-{n}"


def _place(panels: Sequence[Panel], scope: Mapping[str, Selected], fixed: Mapping[str, str], ids: _Ids
           ) -> list[PanelView]:
    y0 = min((p.grid.y for p in panels), default=0)
    pushes: list[tuple[int, int]] = []  # (panels at or below this y, move down by)
    out: list[PanelView] = []
    for p in sorted(panels, key=lambda p: (p.grid.y, p.grid.x)):
        g = p.grid
        y = g.y + sum(d for at, d in pushes if g.y >= at)
        s = scoped(scope, fixed)  # in a repeated row, its variable has the row's one value
        values = repeat_values(p.repeat, s) if p.repeat else ()
        if not values:
            out.append(PanelView(p, y0, interpolate(p.title, s), GridPos(g.x, y, g.w, g.h), ids(p.id), fixed))
            continue
        n = len(values)
        if p.repeat_direction == "v":
            grids = [GridPos(g.x, y + k * g.h, g.w, g.h) for k in range(n)]
            added = (n - 1) * g.h
        else:
            per_row = min(n, p.max_per_row)
            w = max(1, 24 // per_row)
            grids = [GridPos((k % per_row) * w, y + (k // per_row) * g.h, w, g.h) for k in range(n)]
            added = ((n + per_row - 1) // per_row - 1) * g.h
        for value, grid in zip(values, grids, strict=True):
            fix = {**fixed, p.repeat: value}
            out.append(PanelView(p, y0, interpolate(p.title, scoped(scope, fix)), grid, ids(p.id), fix))
        if added:
            pushes.append((g.y + g.h, added))
    return out


def layout(d: Dashboard, scope: Mapping[str, Selected]) -> list[Section]:
    """Top-level panels and rows as sections, each its own 24-column grid; titles get the
    variables' values (``Requests by $handler``)."""
    sections: list[Section] = []
    loose: list[Panel] = []
    ids = _Ids()
    for item in d.items:
        if isinstance(item, Row):
            if loose:
                sections.append(Section("", False, _place(loose, scope, {}, ids)))
                loose = []
            copies = [{item.repeat: v} for v in repeat_values(item.repeat, scope)] if item.repeat else []
            for fixed in copies or [{}]:
                title = interpolate(item.title, scoped(scope, fixed)) or " "
                sections.append(Section(title, item.collapsed, _place(item.panels, scope, fixed, ids)))
        else:
            loose.append(item)
    if loose:
        sections.append(Section("", False, _place(loose, scope, {}, ids)))
    return sections


def allowed_repeat(d: Dashboard, panel: Panel, scope: Mapping[str, Selected], asked: Mapping[str, str]
                   ) -> dict[str, str] | str:
    """The repeat values a panel request may name (its panel's and row's repeat variables,
    one of their selected values); an error message otherwise."""
    row: Row | None = d.row_of(panel.id)
    names = {n for n in (panel.repeat, row.repeat if row else "") if n}
    out: dict[str, str] = {}
    for name, value in asked.items():
        if name not in names:
            return f"panel {panel.id} is not repeated by ${name}"
        if value not in repeat_values(name, scope):
            return f"{value!r} is not a selected value of ${name}"
        out[name] = value
    return out
