"""SLOs in the running process: loaded from the config, checked against the data, their rules
handed to the rule manager, their budgets computed and written every minute.

An SLO whose queries find no data is *rejected*: it gets no rules (they would be a silent flat
line) and ``/api/v1/slos`` shows it with the problems found, each naming the metric or label
at fault.  Rejected SLOs are checked again every minute, so one whose target simply had not
been scraped yet (a fresh install) is accepted as soon as its series exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from guardia.config.errors import ConfigError
from guardia.config.rulefile import RuleFile
from guardia.model.durations import format_duration
from guardia.promql import Engine
from guardia.rules import AlertingRule, RuleManager
from guardia.slo.datacheck import RemoteSeries, check_slo
from guardia.slo.generate import as_rule_file, group_name
from guardia.slo.load import load_config_slos
from guardia.slo.period import burn_windows, windows_used
from guardia.slo.spec import SLO
from guardia.slo.status import RatioCache, Status, compute, write

log = logging.getLogger("guardia.slo")

Key = tuple[str, str]


def key(slo: SLO) -> Key:
    return (slo.service, slo.name)


class SLOService:
    def __init__(self, storage: Any, engine: Engine, rules: RuleManager, *,
                 interval_ms: int = 60_000, clock: Callable[[], float] = time.time,
                 remote: Callable[[], Mapping[str, Any]] = dict) -> None:
        """``remote``: the ``remote_read`` engines by name (``PromQLAPIClient``), for SLOs
        whose ``source`` names one."""
        self.storage = storage
        self.remote = remote
        self.engine = engine
        self.rules = rules
        self.interval_ms = interval_ms
        self.clock = clock
        self.slos: list[SLO] = []
        self.accepted: set[Key] = set()
        self.problems: dict[Key, list[str]] = {}
        self.status: dict[Key, Status] = {}
        self.ratios: RatioCache = {}
        self.warnings: list[str] = []
        self._installed: list[Key] | None = None

    # -- config ------------------------------------------------------------------------------

    def apply_config(self, cfg: Any) -> None:
        """Load the SLOs of ``cfg`` (a ``config.loader.Config``); on errors keep the old ones."""
        slos: list[SLO] = []
        self.warnings = []
        glob = getattr(getattr(cfg, "prometheus", None), "global_", None)
        if glob is not None and glob.evaluation_interval:
            # Budgets move as often as the rules that feed them.
            self.interval_ms = int(glob.evaluation_interval)
        if cfg.slos:
            try:
                slos, warnings = load_config_slos(cfg.file)
            except ConfigError as e:
                raise ValueError("SLOs: " + "; ".join(str(i) for i in e.errors)) from None
            self.warnings = [str(w) for w in warnings]
        old = {key(s): s for s in self.slos}
        self.slos = slos
        # An SLO whose definition changed is checked again; an unchanged one stays accepted.
        self.accepted = {k for k in self.accepted if old.get(k) in slos}
        self.problems = {k: v for k, v in self.problems.items() if k in {key(s) for s in slos}}
        self.status = {k: v for k, v in self.status.items() if k in self.accepted}
        self.ratios = {}
        self.check(int(self.clock() * 1000))
        self.install()

    def check(self, now_ms: int) -> bool:
        """Check the SLOs not yet accepted against the data; True when one was accepted."""
        changed = False
        for s in self.slos:
            k = key(s)
            if k in self.accepted:
                continue
            try:
                problems = self._check(s, now_ms)
            except Exception as e:  # a store that cannot answer is not the SLO's fault
                log.warning("event=slo_check_failed slo=%s/%s err=%r", s.service, s.name, e)
                continue
            if problems:
                if self.problems.get(k) != problems:
                    log.error("event=slo_rejected slo=%s/%s file=%s problems=%r", s.service, s.name,
                              s.file, problems)
                self.problems[k] = problems
            else:
                self.problems.pop(k, None)
                self.accepted.add(k)
                changed = True
                log.info("event=slo_accepted slo=%s/%s", s.service, s.name)
        return changed

    def _check(self, s: SLO, now_ms: int) -> list[str]:
        if not s.source:
            return check_slo(s, self.storage, now_ms)
        client = self.remote().get(s.source)
        if client is None:
            known = ", ".join(sorted(k for k in self.remote() if ":" not in k)) or "none"
            return [f"source {s.source!r} names no remote_read entry (known: {known})"]
        return check_slo(s, RemoteSeries(client), now_ms)

    def _sli_query(self, s: SLO) -> Callable[[str, int], list[tuple[Any, float]]] | None:
        client = self.remote().get(s.source) if s.source else None
        if client is None:
            return None
        return lambda expr, t_ms: [(labels, v) for labels, _, v in client.instant(expr, t_ms)]

    def rule_files(self) -> list[RuleFile]:
        return [as_rule_file([s], s.file or "slos") for s in self.slos if key(s) in self.accepted]

    def install(self) -> None:
        """Hand the accepted SLOs' rules to the rule manager (only when they changed)."""
        now = [key(s) for s in self.slos if key(s) in self.accepted]
        if now == self._installed:
            return
        self.rules.set_generated("slo", self.rule_files())
        self._installed = now

    # -- running -----------------------------------------------------------------------------

    def _query(self, expr: str, t_ms: int) -> list[tuple[Any, float]]:
        res = self.engine.instant(self.storage, expr, t_ms)
        if res.type == "scalar":
            return []
        return [(s.labels, s.v) for s in res.value]

    def tick(self, now_ms: int) -> bool:
        """One minute's work (off the event loop); True when the rules must be reinstalled."""
        changed = self.check(now_ms)
        for s in self.slos:
            if key(s) not in self.accepted:
                continue
            try:
                st = compute(s, self._query, now_ms, self.ratios, self._sli_query(s))
                write(self.storage, st)
                self.status[key(s)] = st
            except Exception as e:
                log.warning("event=slo_budget_failed slo=%s/%s err=%r", s.service, s.name, e)
        return changed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = int(self.clock() * 1000)
            try:
                if await asyncio.to_thread(self.tick, now):
                    self.install()
            except Exception:
                log.exception("event=slo_tick_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_ms / 1000)

    # -- views -------------------------------------------------------------------------------

    def _alerts(self, slo: SLO) -> list[dict[str, Any]]:
        out = []
        name = group_name(slo)
        for g in list(self.rules.groups.values()):
            if g.name != name:
                continue
            for r in g.rules:
                if not isinstance(r, AlertingRule):
                    continue
                for a in list(r.active.values()):
                    if a.state.name == "INACTIVE":
                        continue
                    out.append({"name": r.name, "labels": dict(a.labels), "state": str(a.state),
                                "activeAt": a.active_at_ms / 1000, "value": a.value})
        return sorted(out, key=lambda a: (a["state"] != "firing", a["name"], sorted(a["labels"].items())))

    def describe(self, slo: SLO) -> dict[str, Any]:
        k = key(slo)
        st = self.status.get(k)
        ind = slo.indicator
        return {
            "service": slo.service,
            "name": slo.name,
            "description": slo.description,
            "objective": slo.objective,
            "objectivePercent": round(slo.objective * 100, 10),
            "window": str(slo.period),
            "calendar": bool(slo.period.calendar),
            "labels": slo.labels,
            "format": slo.format,
            "file": slo.file,
            "indicator": {"kind": ind.kind, "source": ind.source,
                          "errorRatio": ind.error_ratio_expr(300_000)},
            "minEvents": slo.min_events if ind.counts_events else None,
            "state": "ok" if k in self.accepted else "rejected",
            "problems": self.problems.get(k, []),
            "status": st.to_json() if st is not None else None,
            "burnWindows": [{"severity": b.severity, "long": b.long, "short": b.short,
                             "factor": b.factor} for b in burn_windows(slo.period)],
            "alerts": self._alerts(slo),
        }

    def list(self) -> list[dict[str, Any]]:
        """Every SLO, the least budget left first (rejected and unknown ones last)."""
        out = [self.describe(s) for s in self.slos]

        def order(d: dict[str, Any]) -> tuple[int, float, str, str]:
            b = (d["status"] or {}).get("errorBudgetRemaining")
            if b is None or (isinstance(b, float) and math.isnan(b)):
                return (1 if d["state"] == "ok" else 2, 0.0, d["service"], d["name"])
            return (0, b, d["service"], d["name"])

        return sorted(out, key=order)

    def find(self, name: str) -> SLO | None:
        """By ``service/name``, sloth's id ``service-name``, or the name alone when unique."""
        for s in self.slos:
            if name in (f"{s.service}/{s.name}", s.id) or (name == s.name and sum(
                    1 for o in self.slos if o.name == name) == 1):
                return s
        return None

    def get(self, name: str) -> dict[str, Any] | None:
        s = self.find(name)
        return None if s is None else self.describe(s)

    def history(self, name: str, points: int = 240) -> dict[str, Any] | None:
        """The budget and the burn rates over the current period, for the SLO's page."""
        s = self.find(name)
        if s is None:
            return None
        end = int(self.clock() * 1000)
        start = s.period.start(end)
        step = max(60_000, (end - start) // points // 60_000 * 60_000)
        out: dict[str, Any] = {"start": start, "end": end, "step": step, "budget": [], "burn": []}
        ident = ",".join(f'{k}="{v}"' for k, v in s.id_labels.items())
        for kind, expr in (("budget", f"slo:error_budget_remaining:ratio{{{ident}}}"),
                           ("burn", f"slo:burn_rate:ratio{{{ident}}}")):
            try:
                res = self.engine.range(self.storage, expr, start, end, step)
            except Exception as e:
                log.warning("event=slo_history_failed slo=%s/%s err=%r", s.service, s.name, e)
                continue
            for series in res.value:
                label = series.labels.get("slo_window") or "budget"
                for g in s.grouping:
                    label += f" {series.labels.get(g)}"
                out[kind].append((label, series.timestamps, series.values))
        order = {format_duration(w): i for i, w in enumerate(windows_used(s.period))}
        out["burn"].sort(key=lambda x: order.get(x[0].split(" ")[0], 99))
        return out
