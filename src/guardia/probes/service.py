"""The running probes: a schedule per monitor and target, results as series, state per target.

Every ``interval`` each target is probed (start times spread over the interval by a hash of
the target, as Prometheus spreads scrapes, so 1,000 probes do not start in the same
millisecond).  A result is appended to storage as the exporter's gauges with ``job`` (the
monitor's name) and ``instance`` (the target) labels, conditions are applied on top, and the
target's state moves to down only after ``retries`` failures in a row (and, with
``confirm``, only when enough locations agree).  Heartbeat monitors are judged by the time
since their last push.  Samples are committed in one batch per flush, not one per probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from guardia.config.loader import Config
from guardia.model import Labels, Matcher, MatchType
from guardia.probes.config import Monitor, ProbesConfig, load_probes
from guardia.probes.modules import Module
from guardia.probes.prober import run_probe
from guardia.probes.result import ProbeResult
from guardia.storage.interface import Storage

log = logging.getLogger("guardia.probes")

FLUSH_EVERY_S = 1.0
HEARTBEAT_CHECK_S = 1.0
HEARTBEAT_STORE_EVERY_MS = 30_000
HISTORY = 50


@dataclass(slots=True)
class TargetState:
    """What the status pages and the API show for one monitor x target."""

    monitor: str
    target: str
    status: str = "unknown"  # up | down | pending (failing, retries left) | unknown (never run)
    reason: str = ""
    last_ms: int = 0
    last_duration_s: float = 0.0
    failures: int = 0
    since_ms: int = 0
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (ms, status, reason)

    def record(self, ok: bool, reason: str, retries: int, now_ms: int, hold: bool = False) -> str | None:
        """Apply one result; returns the new status when it changed.  ``hold`` keeps a failing
        target pending (not enough locations agree yet)."""
        self.last_ms = now_ms
        if ok:
            self.failures, self.reason = 0, ""
            new = "up"
        else:
            self.failures += 1
            self.reason = reason
            new = "down" if self.failures > retries and not hold else (
                "down" if self.status == "down" and not hold else "pending")
        if new == self.status:
            return None
        self.status, self.since_ms = new, now_ms
        self.events.append((now_ms, new, reason))
        del self.events[:-HISTORY]
        return new


@dataclass(slots=True)
class Heartbeat:
    last_push_ms: int = 0
    last_status: str = "up"
    last_msg: str = ""


def _spread(key: str, interval_s: float) -> float:
    """A stable offset in [0, interval) for ``key``."""
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return (h % 1_000_000) / 1_000_000 * interval_s


def check_conditions(monitor: Monitor, result: ProbeResult) -> None:
    """Fail ``result`` on the first Gatus-style condition that does not hold."""
    if not monitor.conditions:
        return
    observed = dict(result.observed)
    observed.setdefault("response_time_ms", round(result.duration_s * 1000, 3))
    observed.setdefault("connected", result.get("probe_ip_protocol") is not None and (
        result.success or "status" in observed))
    for cond in monitor.conditions:
        holds, seen = cond.evaluate(observed)
        if not holds:
            result.fail(f"condition {cond.text} failed (value: {seen})")
            result.set("probe_success", 0)
            return


class ProbeService:
    """Owns the probe schedule for the life of the process; ``apply_config`` swaps monitors."""

    def __init__(self, storage: Storage | None, *, clock: Callable[[], float] = time.time,
                 external_labels: Callable[[], dict[str, str]] = dict) -> None:
        self.storage = storage
        self.clock = clock
        self.external_labels = external_labels
        self.config = ProbesConfig()
        self.states: dict[tuple[str, str], TargetState] = {}
        self.heartbeats: dict[str, Heartbeat] = {}
        self.lags: list[float] = []  # start lag of recent probes (seconds), for the benchmark
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._hb_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._pending: list[tuple[Labels, int, float]] = []
        self._stored_ms: dict[tuple[str, str], int] = {}
        self._running = False
        self.on_change: list[Callable[[TargetState], None]] = []

    # -- config -------------------------------------------------------------------------------

    def modules(self) -> dict[str, Module]:
        return dict(self.config.modules)

    def apply_config(self, cfg: Config | ProbesConfig) -> None:
        """Take the probe sections of ``cfg``; raises ``ConfigError`` (nothing changes) when bad."""
        new = cfg if isinstance(cfg, ProbesConfig) else load_probes(cfg.file)
        old = {m.name: m for m in self.config.monitors}
        self.config = new
        wanted = {(m.name, t): m for m in new.monitors if not m.is_heartbeat for t in m.targets}
        for key in [k for k in self._tasks if k not in wanted]:
            self._tasks.pop(key).cancel()
        for key in [k for k in self.states if k not in wanted and k[0] not in self._heartbeat_names()]:
            del self.states[key]
        for m in new.monitors:
            if m.is_heartbeat:
                self.heartbeats.setdefault(m.name, Heartbeat(last_push_ms=int(self.clock() * 1000)))
                self.states.setdefault((m.name, "heartbeat"), TargetState(m.name, "heartbeat"))
        for name in [n for n in self.heartbeats if n not in self._heartbeat_names()]:
            del self.heartbeats[name]
            self.states.pop((name, "heartbeat"), None)
        if self._running:
            for key, monitor in wanted.items():
                if key in self._tasks and old.get(key[0]) == monitor:
                    continue  # unchanged: keep its schedule
                if key in self._tasks:
                    self._tasks.pop(key).cancel()
                self._start_target(key)

    def _heartbeat_names(self) -> set[str]:
        return {m.name for m in self.config.monitors if m.is_heartbeat}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        for m in self.config.monitors:
            for t in m.targets if not m.is_heartbeat else ():
                self._start_target((m.name, t))
        self._hb_task = asyncio.create_task(self._heartbeat_loop(), name="probes-heartbeats")
        self._flush_task = asyncio.create_task(self._flush_loop(), name="probes-flush")

    async def stop(self) -> None:
        self._running = False
        tasks = [*self._tasks.values(), *(t for t in (self._hb_task, self._flush_task) if t)]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        self.flush()

    def _start_target(self, key: tuple[str, str]) -> None:
        self._tasks[key] = asyncio.create_task(self._loop(*key), name=f"probe {key[0]} {key[1]}")

    async def _loop(self, name: str, target: str) -> None:
        monitor = self.config.monitor(name)
        if monitor is None or monitor.module is None:
            return
        interval = monitor.interval_ms / 1000
        loop = asyncio.get_running_loop()
        # align to the wall clock like Prometheus: each target at its own offset in the interval
        offset = _spread(f"{name}\0{target}", interval)
        now_wall = self.clock()
        next_wall = now_wall - (now_wall % interval) + offset
        if next_wall < now_wall:
            next_wall += interval
        due = loop.time() + (next_wall - now_wall)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.lags.append(loop.time() - due)
            del self.lags[:-10_000]
            monitor = self.config.monitor(name) or monitor
            module = monitor.module
            if module is None:
                return
            try:
                await self.probe_once(monitor, target, module)
            except Exception:
                log.exception("event=probe_loop_error monitor=%s target=%s", name, target)
            due += interval
            if due < loop.time():  # fell behind (a stalled loop): skip, never burst
                due += interval * ((loop.time() - due) // interval + 1)

    async def probe_once(self, monitor: Monitor, target: str, module: Module) -> ProbeResult:
        interval_s = monitor.interval_ms / 1000
        timeout = module.timeout / 1000 if module.timeout else max(min(interval_s, 10.0) - 0.5, 0.5)
        started_ms = int(self.clock() * 1000)
        result = await run_probe(target, module, timeout)
        check_conditions(monitor, result)
        self._record(monitor, target, result, started_ms)
        return result

    # -- results ------------------------------------------------------------------------------

    def _record(self, monitor: Monitor, target: str, result: ProbeResult, t_ms: int,
                store: bool = True) -> None:
        state = self.states.setdefault((monitor.name, target), TargetState(monitor.name, target))
        if store or (state.status == "up") != result.success:
            base = {**monitor.labels, "instance": target}
            for name, labels, value in result.samples():
                self._pending.append((Labels({**base, **dict(labels), "__name__": name}), t_ms, value))
            self._stored_ms[(monitor.name, target)] = t_ms
        state.last_duration_s = result.duration_s
        hold = False
        reason = result.reason
        if not result.success and monitor.confirm is not None:
            others_down, others = self.confirmed_down(monitor, target, exclude_own=True)
            down, total = others_down + 1, others + 1
            hold = down < monitor.confirm.min_locations
            reason = f"{reason} (down from {down} of {total} locations)"
        changed = state.record(result.success, reason, monitor.retries, t_ms, hold)
        if changed is not None:
            log.info("event=probe_state monitor=%s target=%s status=%s reason=%r",
                     monitor.name, target, changed, result.reason)
            for cb in self.on_change:
                cb(state)

    def flush(self) -> None:
        """Commit the samples of the probes finished since the last flush, in one batch."""
        if not self._pending or self.storage is None:
            self._pending.clear()
            return
        batch, self._pending = self._pending, []
        app = self.storage.appender()
        try:
            for labels, t, v in batch:
                app.append(labels, t, v)
            app.commit()
        except Exception:
            app.rollback()
            log.exception("event=probe_append_failed samples=%d", len(batch))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            self.flush()

    # -- heartbeats ---------------------------------------------------------------------------

    def heartbeat_by_token(self, token: str) -> Monitor | None:
        for m in self.config.monitors:
            if m.heartbeat is not None and _same(m.heartbeat.token.reveal(), token):
                return m
        return None

    def push(self, token: str, status: str = "up", msg: str = "") -> Monitor | None:
        """A job reports in (``/api/push/<token>``); ``status=down`` reports a failure now."""
        monitor = self.heartbeat_by_token(token)
        if monitor is None:
            return None
        now_ms = int(self.clock() * 1000)
        hb = self.heartbeats.setdefault(monitor.name, Heartbeat())
        hb.last_push_ms, hb.last_status, hb.last_msg = now_ms, status, msg
        self._judge_heartbeat(monitor, now_ms)
        return monitor

    def _judge_heartbeat(self, monitor: Monitor, now_ms: int) -> None:
        assert monitor.heartbeat is not None
        hb = self.heartbeats.setdefault(monitor.name, Heartbeat(last_push_ms=now_ms))
        late_ms = now_ms - hb.last_push_ms
        limit = monitor.heartbeat.period + monitor.heartbeat.grace
        result = ProbeResult()
        if hb.last_status == "down":
            result.fail(f"the job reported a failure{': ' + hb.last_msg if hb.last_msg else ''}")
        elif late_ms > limit:
            hbc = monitor.heartbeat
            result.fail(f"no push for {late_ms // 1000}s (expected every {hbc.period // 1000}s, "
                        f"grace {hbc.grace // 1000}s)")
        result.set("probe_success", 1 if result.success else 0)
        result.set("heartbeat_last_push_timestamp_seconds", hb.last_push_ms / 1000)
        # judged every second, stored every 30 s (and at every change): uptime needs no more
        last = self._stored_ms.get((monitor.name, "heartbeat"), 0)
        self._record(monitor, "heartbeat", result, now_ms, store=now_ms - last >= HEARTBEAT_STORE_EVERY_MS)

    async def _heartbeat_loop(self) -> None:
        while True:
            now_ms = int(self.clock() * 1000)
            for m in self.config.monitors:
                if m.is_heartbeat:
                    self._judge_heartbeat(m, now_ms)
            await asyncio.sleep(HEARTBEAT_CHECK_S)

    # -- views --------------------------------------------------------------------------------

    def state(self, monitor: str) -> list[TargetState]:
        return [s for (name, _), s in self.states.items() if name == monitor]

    def monitor_status(self, monitor: str) -> str:
        """The worst state of the monitor's targets (down > pending > up > unknown)."""
        states = self.state(monitor)
        if not states:
            return "unknown"
        order = {"down": 3, "pending": 2, "up": 1}
        return max((s.status for s in states), key=lambda s: order.get(s, 0))

    def confirmed_down(self, monitor: Monitor, target: str, window_ms: int | None = None,
                       exclude_own: bool = False) -> tuple[int, int]:
        """(locations seeing it down, locations reporting) from stored ``probe_success`` of every
        guardia probing this target (their series reach this one by federation or remote write
        with a location external label)."""
        label = monitor.confirm.label if monitor.confirm else "location"
        if self.storage is None:
            return (0, 0)
        now = int(self.clock() * 1000)
        window = window_ms or monitor.interval_ms * 3
        q = self.storage.querier(now - window, now)
        try:
            series = q.select([Matcher("__name__", MatchType.EQUAL, "probe_success"),
                               Matcher("job", MatchType.EQUAL, monitor.name),
                               Matcher("instance", MatchType.EQUAL, target)])
        finally:
            q.close()
        own = self.external_labels().get(label, "local")
        latest: dict[str, float] = {}
        for s in series:
            where = s.labels.get(label) or own
            if len(s) and not (exclude_own and where == own):
                latest[where] = float(s.values[-1])
        down = sum(1 for v in latest.values() if v == 0)
        return down, len(latest)


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def monitors_of(cfg: ProbesConfig, names: Iterable[str]) -> list[Monitor]:
    by_name = {m.name: m for m in cfg.monitors}
    return [by_name[n] for n in names if n in by_name]
