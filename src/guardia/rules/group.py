"""A rule group: its rules evaluated in order, on its own interval, as one unit.

Each rule's output is committed before the next rule runs, so a recording rule is visible to
the rules after it in the same evaluation.  A failing rule is recorded (health, lastError,
``prometheus_rule_evaluation_failures_total``) and the group goes on.  A group slower than
its interval skips the evaluations it missed and counts them; it never queues them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from guardia.model import STALE_NAN, Labels, Matcher
from guardia.promql import Sample
from guardia.rules.alerting import Alert, AlertingRule
from guardia.rules.metrics import RuleMetrics
from guardia.rules.query import QueryFunc
from guardia.rules.recording import RecordingRule
from guardia.storage.interface import Querier, Storage

log = logging.getLogger("guardia.rules")

Rule = AlertingRule | RecordingRule
NotifyFunc = Callable[[str, Sequence[Alert]], None]


@dataclass
class GroupOptions:
    """What every group of one manager shares."""

    storage: Storage
    query: QueryFunc
    notify: NotifyFunc | None = None
    metrics: RuleMetrics = field(default_factory=RuleMetrics)
    outage_tolerance_ms: int = 3_600_000
    for_grace_period_ms: int = 600_000
    resend_delay_ms: int = 60_000
    clock: Callable[[], float] = time.time
    run_in_thread: bool = True


class Group:
    def __init__(self, name: str, file: str, interval_ms: int, rules: Sequence[Rule],
                 opts: GroupOptions, *, limit: int = 0, query_offset_ms: int = 0,
                 restore: bool = True) -> None:
        self.name = name
        self.file = file
        self.interval_ms = interval_ms
        self.rules = list(rules)
        self.opts = opts
        self.limit = limit
        self.query_offset_ms = query_offset_ms
        self.should_restore = restore
        self.key = f"{file};{name}"
        self.last_eval_ms = 0
        self.last_duration_s = 0.0
        self.evaluations = 0
        self.missed = 0
        self._prev_series: list[set[Labels]] = [set() for _ in self.rules]
        m = opts.metrics
        m.interval.labels(self.key).set(interval_ms / 1000)
        m.rules.labels(self.key).set(len(self.rules))
        if not restore:
            for r in self.rules:
                if isinstance(r, AlertingRule):
                    r.restored = True

    # --- one evaluation
    def eval(self, t_ms: int) -> None:
        """Evaluate every rule at ``t_ms`` in order; never raises for a rule's failure."""
        m = self.opts.metrics
        start = time.perf_counter()
        total_samples = 0
        rule_sum = 0.0
        for i, rule in enumerate(self.rules):
            r0 = time.perf_counter()
            m.evaluations.labels(self.key).inc()
            try:
                if isinstance(rule, AlertingRule):
                    samples = rule.eval(t_ms, self.query_offset_ms, self.opts.query, self.limit)
                else:
                    samples = rule.eval(t_ms, self.query_offset_ms, self.opts.query, self.limit)
            except Exception as e:  # a rule's failure must not stop the group
                dt = time.perf_counter() - r0
                rule_sum += dt
                rule.health.fail(t_ms, dt, str(e))
                m.failures.labels(self.key).inc()
                log.warning("rule evaluation failed group=%s rule=%s err=%s", self.key,
                            rule.name, e)
                continue
            total_samples += len(samples)
            self._write(i, rule, samples, t_ms - self.query_offset_ms)
            if isinstance(rule, AlertingRule) and self.opts.notify is not None:
                due = rule.alerts_to_send(t_ms, self.opts.resend_delay_ms, self.interval_ms)
                if due:
                    try:
                        self.opts.notify(rule.expr, due)
                    except Exception as e:
                        log.warning("sending alerts failed group=%s err=%s", self.key, e)
            dt = time.perf_counter() - r0
            rule_sum += dt
            m.eval_duration.observe(dt)
            rule.health.ok(t_ms, dt)
        self.last_duration_s = time.perf_counter() - start
        self.last_eval_ms = t_ms
        self.evaluations += 1
        m.group_duration.observe(self.last_duration_s)
        m.last_duration.labels(self.key).set(self.last_duration_s)
        m.last_rule_duration_sum.labels(self.key).set(rule_sum)
        m.last_eval.labels(self.key).set(t_ms / 1000)
        m.last_samples.labels(self.key).set(total_samples)

    def _write(self, i: int, rule: Rule, samples: list[Sample], stale_t: int) -> None:
        app = self.opts.storage.appender()
        seen = {s.labels for s in samples}
        gone = self._prev_series[i] - seen
        try:
            hists = [s for s in samples if getattr(s, "h", None) is not None]
            if hists:
                # native histogram results (``sum(rate(h[5m]))``), where the store takes them
                add = getattr(app, "append_histogram", None)
                if add is not None:
                    for s in hists:
                        add(s.labels, s.t, s.h)
                samples = [s for s in samples if getattr(s, "h", None) is None]
            if samples:
                # One evaluation's output shares a timestamp: one batch append.
                refs = [app.ref(s.labels) for s in samples]
                app.append_batch(refs, samples[0].t, np.fromiter((s.v for s in samples),
                                                                 np.float64, len(samples)))
            if gone:
                app.append_batch([app.ref(ls) for ls in gone], stale_t,
                                 np.full(len(gone), STALE_NAN))
            stats = app.commit()
        except Exception as e:  # storage refusing samples is logged, not fatal
            app.rollback()
            log.warning("writing rule output failed group=%s rule=%s err=%s", self.key,
                        rule.name, e)
            return
        if getattr(stats, "rejected", 0):
            log.warning("rule output rejected by storage group=%s rule=%s rejected=%d",
                        self.key, rule.name, stats.rejected)
        self._prev_series[i] = seen

    def mark_stale(self, t_ms: int) -> None:
        """Stale markers for everything the group last wrote (the group is being removed)."""
        app = self.opts.storage.appender()
        for series in self._prev_series:
            for ls in series:
                app.append(ls, t_ms, STALE_NAN)
        app.commit()
        self._prev_series = [set() for _ in self.rules]

    # --- restoring `for` state after a restart
    def restore_for_state(self, t_ms: int) -> None:
        """Prometheus's RestoreForState: resume pending alerts from ALERTS_FOR_STATE.

        If the store cannot be read, alerts keep their new active time (as if no state had
        been saved) and ALERTS writing starts anyway, rather than never.
        """
        try:
            self._restore(t_ms)
        except Exception as e:
            log.error("restoring for state failed group=%s err=%r", self.key, e)
            for rule in self.rules:
                if isinstance(rule, AlertingRule):
                    rule.restored = True

    def _restore(self, t_ms: int) -> None:
        r0 = time.perf_counter()
        mint = t_ms - self.opts.outage_tolerance_ms
        q = self.opts.storage.querier(mint, t_ms)
        try:
            for rule in self.rules:
                if not isinstance(rule, AlertingRule):
                    continue
                if rule.hold_ms < self.opts.for_grace_period_ms:
                    rule.restored = True
                    continue
                for a in rule.active.values():
                    self._restore_alert(q, rule, a, t_ms)
                rule.restored = True
        finally:
            q.close()
        self.opts.metrics.last_restore_duration.labels(self.key).set(time.perf_counter() - r0)

    def _restore_alert(self, q: Querier, rule: AlertingRule, a: Alert, t_ms: int) -> None:
        ls = rule.for_state_labels(a)
        matchers = [Matcher.equal(k, v) for k, v in ls]
        # Only the series with exactly these labels (a subset match could pick another alert).
        series = [s for s in q.select(matchers) if s.labels == ls]
        if not series:
            return
        s = series[0]
        vals = np.asarray(s.values)
        ok = ~np.isnan(vals)
        if not ok.any():
            return
        last = int(np.flatnonzero(ok)[-1])
        down_at = int(s.timestamps[last])
        restored_active = int(vals[last]) * 1000
        if math.isnan(vals[last]):
            return
        spent = down_at - restored_active
        remaining = rule.hold_ms - spent
        if remaining <= 0:
            pass  # it was firing; the next evaluation fires it again
        elif remaining < self.opts.for_grace_period_ms:
            restored_active = t_ms + self.opts.for_grace_period_ms - rule.hold_ms
        else:
            restored_active += t_ms - down_at
        a.active_at_ms = restored_active
        log.info("restored for state group=%s rule=%s alert=%s active_at=%d", self.key,
                 rule.name, a.labels, restored_active)

    # --- scheduling
    def eval_timestamp(self, now_ms: int) -> int:
        """The group's slot at or before ``now_ms``: a per-group offset spreads groups out."""
        h = int.from_bytes(hashlib.sha256(self.key.encode()).digest()[:8], "big")
        offset = h % self.interval_ms
        adj = now_ms - offset
        return adj - adj % self.interval_ms + offset

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate on every slot until ``stop`` is set; missed slots are counted, not run."""
        interval_s = self.interval_ms / 1000
        clock = self.opts.clock
        next_ts = self.eval_timestamp(int(clock() * 1000)) + self.interval_ms
        restore_at = 2 if self.should_restore else 0
        while not stop.is_set():
            delay = next_ts / 1000 - clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return
                except TimeoutError:
                    pass
            now_ms = int(clock() * 1000)
            missed = max(0, (now_ms - next_ts) // self.interval_ms)
            if missed:
                self.missed += missed
                self.opts.metrics.iterations_missed.labels(self.key).inc(missed)
                self.opts.metrics.iterations_scheduled.labels(self.key).inc(missed)
                log.warning("rule group missed evaluations group=%s missed=%d interval=%ss",
                            self.key, missed, interval_s)
                next_ts += missed * self.interval_ms
            self.opts.metrics.iterations_scheduled.labels(self.key).inc()
            try:
                await self._eval_async(next_ts)
                if restore_at and self.evaluations >= restore_at:
                    restore_at = 0
                    self.restore_for_state(int(clock() * 1000))
            except Exception as e:  # the loop must survive anything; the next slot retries
                log.error("rule group evaluation crashed group=%s err=%r", self.key, e)
            next_ts += self.interval_ms

    async def _eval_async(self, t_ms: int) -> None:
        if self.opts.run_in_thread:
            await asyncio.to_thread(self.eval, t_ms)
        else:
            self.eval(t_ms)
