"""The rule manager: loads rule files into groups and runs each group as an asyncio task.

On reload, a group with the same file and name keeps its alerts (their active times and
sent state), so a reload never resets a pending ``for`` or re-notifies; removed groups get
stale markers for the series they wrote.
"""

from __future__ import annotations

import asyncio
import glob
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from guardia.config.errors import ConfigError
from guardia.config.prometheus import GlobalConfig
from guardia.config.rulefile import RuleFile, load_rule_file
from guardia.promql import Engine
from guardia.rules.alerting import AlertingRule
from guardia.rules.api import alerts_data, rules_data
from guardia.rules.group import Group, GroupOptions, NotifyFunc, Rule
from guardia.rules.metrics import RuleMetrics
from guardia.rules.query import QueryFunc, engine_query_func
from guardia.rules.recording import RecordingRule
from guardia.storage.interface import Storage

log = logging.getLogger("guardia.rules")

DEFAULT_EVALUATION_INTERVAL_MS = 60_000


def expand_rule_files(patterns: Iterable[str]) -> list[str]:
    """rule_files entries are globs; a plain path is kept even if missing (loading says so)."""
    out: list[str] = []
    for p in patterns:
        if any(c in p for c in "*?["):
            out.extend(sorted(glob.glob(p)))
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def build_group(rf_file: str, g: Any, opts: GroupOptions, default_interval_ms: int,
                external_labels: dict[str, str], external_url: str,
                restore: bool = True, default_query_offset_ms: int = 0) -> Group:
    rules: list[Rule] = []
    for r in g.rules:
        if r.alert is not None:
            ar = AlertingRule.from_config(r, external_labels, external_url)
            if g.labels:
                ar.labels = {**g.labels, **ar.labels}
            rules.append(ar)
        else:
            rr = RecordingRule.from_config(r)
            if g.labels:
                rr.labels = {**g.labels, **rr.labels}
            rules.append(rr)
    return Group(g.name, rf_file, g.interval_ms(default_interval_ms), rules, opts,
                 limit=g.limit,
                 query_offset_ms=(g.query_offset if g.query_offset is not None
                                  else default_query_offset_ms),
                 restore=restore)


class RuleManager:
    def __init__(
        self,
        storage: Storage,
        *,
        engine: Engine | None = None,
        query: QueryFunc | None = None,
        notify: NotifyFunc | None = None,
        registry: CollectorRegistry | None = None,
        evaluation_interval_ms: int = DEFAULT_EVALUATION_INTERVAL_MS,
        external_labels: dict[str, str] | None = None,
        external_url: str = "",
        outage_tolerance_ms: int = 3_600_000,
        for_grace_period_ms: int = 600_000,
        resend_delay_ms: int = 60_000,
        run_in_thread: bool = True,
        query_offset_ms: int = 0,
        expr_check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.storage = storage
        # how rule files' exprs are checked: PromQL by default, LogQL for Loki ruler files
        self.expr_check = expr_check
        self.metrics = RuleMetrics(registry)
        q = query if query is not None else engine_query_func(engine or Engine(), storage)
        self.opts = GroupOptions(storage=storage, query=q, notify=notify, metrics=self.metrics,
                                 outage_tolerance_ms=outage_tolerance_ms,
                                 for_grace_period_ms=for_grace_period_ms,
                                 resend_delay_ms=resend_delay_ms, run_in_thread=run_in_thread)
        self.evaluation_interval_ms = evaluation_interval_ms
        # global.rule_query_offset: the default for groups without their own query_offset.
        self.query_offset_ms = query_offset_ms
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.groups: dict[str, Group] = {}
        # Rule files built in memory by other subsystems (SLOs), by source; kept across reloads
        # of rule_files and run like any file's groups.
        self._generated: dict[str, list[RuleFile]] = {}
        self._patterns: list[str] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._started = False
        self.sources: dict[str, QueryFunc] = {}

    # --- loading
    def load_files(self, patterns: Sequence[str]) -> list[Group]:
        """Parse rule files into groups (not started); ConfigError on any invalid file."""
        groups: list[Group] = []
        errors = []
        for path in expand_rule_files(patterns):
            try:
                rf: RuleFile = load_rule_file(path, self.expr_check)
            except ConfigError as e:
                errors.extend(e.issues)
                continue
            groups.extend(self._groups_of(str(Path(path)), rf))
        if errors:
            raise ConfigError(errors)
        for files in self._generated.values():
            for rf in files:
                groups.extend(self._groups_of(rf.file, rf))
        return groups

    def _groups_of(self, file: str, rf: RuleFile) -> list[Group]:
        return [build_group(file, g, self._options_for(file, g), self.evaluation_interval_ms,
                            self.external_labels, self.external_url, restore=not self._started,
                            default_query_offset_ms=self.query_offset_ms) for g in rf.groups]

    def set_sources(self, sources: Mapping[str, QueryFunc]) -> None:
        """The remote engines rule groups may name in ``source:`` (applied at the next load)."""
        self.sources = dict(sources)

    def _options_for(self, file: str, g: Any) -> GroupOptions:
        """A group's options: its ``source:`` decides which engine evaluates its queries."""
        source = getattr(g, "source", None)
        if source is None or source == "local":
            return self.opts
        query = self.sources.get(source)
        if query is None:
            known = ", ".join(sorted(self.sources)) or "none: add a named remote_read entry"
            raise ConfigError.single(file, f"group {g.name!r}: source {source!r} names no remote engine "
                                           f"(known: {known})", path="source")
        return replace(self.opts, query=query)

    def set_generated(self, source: str, files: Sequence[RuleFile]) -> None:
        """Replace the in-memory rule files of ``source`` (e.g. "slo") and reload the groups."""
        self._generated[source] = list(files)
        self.update(self._patterns)

    def update(self, patterns: Sequence[str]) -> None:
        """Load (or reload) rule files; keeps the old groups running if any file is bad."""
        new = self.load_files(patterns)
        self._patterns = list(patterns)
        new_by_key = {g.key: g for g in new}
        for key, old in list(self.groups.items()):
            if key not in new_by_key:
                self._cancel(key)
                try:
                    if old.last_eval_ms:
                        old.mark_stale(max(old.last_eval_ms + 1,
                                           int(self.opts.clock() * 1000)))
                except Exception as e:
                    log.warning("stale markers for removed group failed group=%s err=%s", key, e)
                self.metrics.forget(key)
                del self.groups[key]
        for key, g in new_by_key.items():
            old_g = self.groups.get(key)
            if old_g is not None:
                _copy_state(old_g, g)
                self._cancel(key)
            self.groups[key] = g
            if self._started:
                self._spawn(g)

    def apply_config(self, global_: GlobalConfig, rule_files: Sequence[str]) -> None:
        """A reload: the global settings groups are built with, then the rule files.

        Files the loader checked may have changed since; a bad one keeps the old groups
        running (logged), as a reload with a broken config keeps the old config."""
        self.external_labels = dict(global_.external_labels)
        self.evaluation_interval_ms = global_.evaluation_interval
        self.query_offset_ms = global_.rule_query_offset
        try:
            self.update(rule_files)
        except ConfigError as e:
            log.error("event=rules_reload_failed keeping=previous_rules reason=%r", str(e))

    # --- running
    async def start(self) -> None:
        self._started = True
        self._stop.clear()
        for g in self.groups.values():
            self._spawn(g)

    def _spawn(self, g: Group) -> None:
        self._tasks[g.key] = asyncio.create_task(g.run(self._stop), name=f"rules:{g.key}")

    def _cancel(self, key: str) -> None:
        t = self._tasks.pop(key, None)
        if t is not None:
            t.cancel()

    async def stop(self) -> None:
        self._stop.set()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            try:
                await asyncio.wait_for(t, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                t.cancel()

    # --- views for the API
    def rule_groups(self) -> list[Group]:
        return sorted(self.groups.values(), key=lambda g: (g.file, g.name))

    def rules(self, **filters: Any) -> dict[str, Any]:
        """``data`` of GET /api/v1/rules (filters as ``rules_data`` takes them)."""
        return rules_data(self.rule_groups(), **filters)

    def alerts(self) -> dict[str, Any]:
        """``data`` of GET /api/v1/alerts."""
        return alerts_data(self.rule_groups())


def _copy_state(old: Group, new: Group) -> None:
    """Carry alerts and health over from the old version of a group (same file and name)."""
    by_key = {(type(r).__name__, r.name, tuple(sorted(r.labels.items()))): r for r in old.rules}
    for r in new.rules:
        prev = by_key.get((type(r).__name__, r.name, tuple(sorted(r.labels.items()))))
        if prev is None:
            continue
        r.health = prev.health
        if isinstance(r, AlertingRule) and isinstance(prev, AlertingRule):
            r.active = prev.active
            r.restored = prev.restored
    new.should_restore = False
    new.last_eval_ms = old.last_eval_ms
    new.evaluations = old.evaluations
