"""The checks of the running process: a schedule per check, results as series, thresholds as rules.

Each check runs every ``interval`` (the first run soon after start, spread by a hash of its
name so a hundred checks do not start together).  Its last result is written as
``guardia_check_value`` (one series per row), ``guardia_check_success``,
``guardia_check_status`` (the Nagios state, 0-3) and ``guardia_check_duration_seconds``, and
written again every ``refresh`` seconds with the current time, as an exporter scraped between
two runs would answer: an hourly check stays visible to PromQL (whose lookback is 5 minutes)
and to its threshold rules between runs.  Rows that disappear get staleness markers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from guardia.checks.config import Check, ChecksConfig, DORAMetric, load_checks
from guardia.checks.dora import metric_function
from guardia.checks.python_kind import CheckImportError, expand_module, resolve_function
from guardia.checks.result import Outcome
from guardia.checks.runner import DEFAULT_WORKERS, Runner
from guardia.checks.thresholds import threshold_rules
from guardia.config.errors import ConfigError
from guardia.config.rulefile import RuleFile, parse_rule_file
from guardia.config.yamlsource import YamlSource
from guardia.model import STALE_NAN, Labels
from guardia.storage.interface import Storage

log = logging.getLogger("guardia.checks")

REFRESH_S = 30.0
FIRST_RUN_SPREAD_S = 10.0
RULE_FILE = "checks"

InstallRules = Callable[[Sequence[RuleFile]], None]


@dataclass(slots=True)
class CheckState:
    """What the API shows for one check."""

    check: Check
    last: Outcome | None = None
    last_ms: int = 0
    runs: int = 0
    failures: int = 0


def _spread(name: str, span_s: float) -> float:
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return (h / 2**64) * span_s


def rule_file_for(checks: Sequence[Check]) -> RuleFile | None:
    """The generated rule file holding every check's thresholds (None when no check has any)."""
    groups = [threshold_rules(c.name, c.interval_ms, c.for_ms, dict(c.labels), dict(c.thresholds),
                              c.description) for c in checks if c.thresholds]
    if not groups:
        return None
    for g in groups:
        del g["interval"]  # evaluated with every other rule: the values are refreshed between runs
    rf, issues = parse_rule_file(YamlSource(RULE_FILE, {"groups": groups}))
    if rf is None:
        raise ValueError("check thresholds: " + "; ".join(i.message for i in issues))
    return rf


class CheckService:
    def __init__(self, storage: Storage | None, *, install_rules: InstallRules | None = None,
                 workers: int = DEFAULT_WORKERS, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.install_rules = install_rules
        self.runner = Runner(workers)
        self.refresh_s = refresh_s
        self.clock = clock
        self.config = ChecksConfig()
        self.checks: dict[str, Check] = {}
        self.functions: dict[str, Callable[[], Any]] = {}
        self.states: dict[str, CheckState] = {}
        self._written: dict[str, set[Labels]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._refresh_task: asyncio.Task[None] | None = None
        self._started = False

    # -- config ------------------------------------------------------------------------------

    def apply_config(self, cfg: Any) -> None:
        """Load the ``checks:`` of ``cfg`` (a ``config.loader.Config``); errors keep the old checks."""
        try:
            self.load(load_checks(cfg.file))
        except ConfigError as e:
            raise ValueError("checks: " + "; ".join(str(i) for i in e.errors)) from None

    def load(self, config: ChecksConfig, reload_modules: bool = False) -> None:
        """Resolve and schedule ``config``'s checks; ``ValueError`` names the check at fault."""
        checks: dict[str, Check] = {}
        functions: dict[str, Callable[[], Any]] = {}
        errors: list[str] = []
        expanded: list[Check] = list(config.checks)
        for spec, base_dir in config.modules:
            try:
                expanded.extend(expand_module(spec, base_dir, reload_modules))
            except CheckImportError as e:
                errors.append(f"checks: python module {spec.python.module if spec.python else ''!r}: {e}")
        for c in expanded:
            if c.name in checks:
                errors.append(f"check {c.name!r} is defined twice")
                continue
            checks[c.name] = c
            if isinstance(c.target, DORAMetric):
                if self.storage is not None:
                    functions[c.name] = metric_function(self.storage, c.target.metric, c.target.window_ms,
                                                        self.clock)
            elif c.kind == "python":
                try:
                    functions[c.name] = resolve_function(c, reload_modules)
                except CheckImportError as e:
                    errors.append(f"check {c.name!r}: {e}")
        if errors:
            raise ValueError("; ".join(errors))
        rules = rule_file_for(list(checks.values()))
        old = self.checks
        self.config, self.checks, self.functions = config, checks, functions
        self.states = {n: (self.states[n] if n in self.states and old.get(n) == c else CheckState(c))
                       for n, c in checks.items()}
        for name in set(self._written) - set(checks):
            self._mark_stale(name, set())
        if self.install_rules is not None:
            self.install_rules([rules] if rules is not None else [])
        if self._started:
            self._reschedule(old)
        log.info("event=checks_loaded checks=%d with_thresholds=%d", len(checks),
                 sum(1 for c in checks.values() if c.thresholds))

    # -- running -----------------------------------------------------------------------------

    async def run_once(self, name: str) -> Outcome:
        """Run one check now and record its result."""
        check = self.checks[name]
        outcome = await self.runner.run(check, self.functions.get(name))
        self._record(check, outcome)
        return outcome

    async def run_all(self) -> dict[str, Outcome]:
        """Every check once, concurrently within the pool (``guardia checks run``, Django's
        ``guardia_checks`` command)."""
        names = list(self.checks)
        results = await asyncio.gather(*(self.run_once(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def _loop(self, check: Check) -> None:
        await asyncio.sleep(_spread(check.name, min(FIRST_RUN_SPREAD_S, check.interval_ms / 1000)))
        while True:
            started = time.monotonic()
            try:
                await self.run_once(check.name)
            except Exception:
                log.exception("event=check_loop_failed check=%s", check.name)
            await asyncio.sleep(max(0.0, check.interval_ms / 1000 - (time.monotonic() - started)))

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                self.refresh()
            except Exception:
                log.exception("event=check_refresh_failed")

    def _reschedule(self, old: dict[str, Check]) -> None:
        for name in list(self._tasks):
            if name not in self.checks or old.get(name) != self.checks[name]:
                self._tasks.pop(name).cancel()
        for name, c in self.checks.items():
            if name not in self._tasks:
                self._tasks[name] = asyncio.create_task(self._loop(c), name=f"check:{name}")

    async def start(self) -> None:
        self._started = True
        self._reschedule({})
        self._refresh_task = asyncio.create_task(self._refresh_loop(), name="checks-refresh")

    async def stop(self) -> None:
        self._started = False
        tasks = [*self._tasks.values(), *([self._refresh_task] if self._refresh_task else [])]
        self._tasks.clear()
        self._refresh_task = None
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # -- results ------------------------------------------------------------------------------

    def samples(self, check: Check, outcome: Outcome) -> list[tuple[Labels, float]]:
        """The series of one result (value rows, success, status, duration)."""
        base = {**check.labels, "check": check.name}
        out = [(Labels({**base, **dict(row), "__name__": "guardia_check_value"}), v)
               for row, v in outcome.rows]
        out.append((Labels({**base, "__name__": "guardia_check_success"}), 1.0 if outcome.ok else 0.0))
        out.append((Labels({**base, "__name__": "guardia_check_status"}), float(int(outcome.status))))
        out.append((Labels({**base, "__name__": "guardia_check_duration_seconds"}), outcome.duration_s))
        return out

    def _record(self, check: Check, outcome: Outcome) -> None:
        now_ms = int(self.clock() * 1000)
        state = self.states.setdefault(check.name, CheckState(check))
        state.last, state.last_ms = outcome, now_ms
        state.runs += 1
        state.failures += 0 if outcome.ok else 1
        self._write(check, outcome, now_ms)

    def _write(self, check: Check, outcome: Outcome, t_ms: int) -> None:
        if self.storage is None:
            return
        samples = self.samples(check, outcome)
        current = {lb for lb, _ in samples}
        stale = self._written.get(check.name, set()) - current
        app = self.storage.appender()
        try:
            for lb, v in samples:
                app.append(lb, t_ms, v)
            for lb in stale:
                app.append(lb, t_ms, STALE_NAN)
            app.commit()
        except Exception:
            app.rollback()
            log.exception("event=check_append_failed check=%s", check.name)
            return
        self._written[check.name] = current

    def _mark_stale(self, name: str, keep: set[Labels]) -> None:
        gone = self._written.pop(name, set()) - keep
        if not gone or self.storage is None:
            return
        app = self.storage.appender()
        t_ms = int(self.clock() * 1000)
        try:
            for lb in gone:
                app.append(lb, t_ms, STALE_NAN)
            app.commit()
        except Exception:
            app.rollback()

    def refresh(self) -> None:
        """Write every check's last result again at the current time."""
        now_ms = int(self.clock() * 1000)
        for name, st in self.states.items():
            if st.last is not None and name in self.checks:
                self._write(self.checks[name], st.last, now_ms)
