"""Alerting rules: the inactive → pending → firing state machine of Prometheus.

An alert is keyed by its label set (sample labels without ``__name__``, plus the rule's
templated labels and ``alertname``).  It is pending from its first appearance, fires once it
has been active for ``for``, keeps firing for ``keep_firing_for`` after its expression stops
returning it, and is then kept as resolved for 15 minutes so receivers learn it ended.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from guardia.config.rulefile import Rule
from guardia.model import METRIC_NAME, Labels
from guardia.promql import Sample
from guardia.rules.health import RuleHealth
from guardia.rules.query import QueryFunc, RuleQueryError
from guardia.template import AlertTemplateData, expand_alert_template

RESOLVED_RETENTION_MS = 15 * 60_000
ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
ALERTNAME = "alertname"
ALERTSTATE = "alertstate"


class AlertState(enum.IntEnum):
    INACTIVE = 0
    PENDING = 1
    FIRING = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass
class Alert:
    labels: Labels
    annotations: dict[str, str]
    state: AlertState
    active_at_ms: int
    value: float
    fired_at_ms: int = 0
    resolved_at_ms: int = 0
    last_sent_ms: int = 0
    valid_until_ms: int = 0
    keep_firing_since_ms: int = 0

    def needs_sending(self, t_ms: int, resend_delay_ms: int) -> bool:
        if self.state == AlertState.PENDING:
            return False
        if self.resolved_at_ms > self.last_sent_ms:
            return True
        return self.last_sent_ms + resend_delay_ms < t_ms

    def copy(self) -> Alert:
        return replace(self, annotations=dict(self.annotations))


@dataclass
class AlertingRule:
    name: str
    expr: str
    hold_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    active: dict[Labels, Alert] = field(default_factory=dict)
    health: RuleHealth = field(default_factory=RuleHealth)
    # ALERTS series are written only once `for` state is restored (or needs no restoring).
    restored: bool = False

    @classmethod
    def from_config(cls, rule: Rule, external_labels: dict[str, str] | None = None,
                    external_url: str = "") -> AlertingRule:
        return cls(name=rule.alert or "", expr=rule.expr, hold_ms=rule.for_,
                   keep_firing_for_ms=rule.keep_firing_for, labels=dict(rule.labels),
                   annotations=dict(rule.annotations),
                   external_labels=dict(external_labels or {}), external_url=external_url)

    # --- evaluation
    def eval(self, t_ms: int, query_offset_ms: int, query: QueryFunc, limit: int,
             template_query: Callable[[str], Iterable[Any]] | None = None) -> list[Sample]:
        """Advance alert states to ``t_ms``; return the ALERTS/ALERTS_FOR_STATE samples."""
        ts = t_ms - query_offset_ms
        vector = query(self.expr, ts)
        if template_query is None:
            def template_query(expr: str) -> list[Sample]:
                return query(expr, t_ms)
        found: dict[Labels, Alert] = {}
        for s in vector:
            labels = s.labels.without(METRIC_NAME)
            data = AlertTemplateData(dict(labels), self.external_labels, self.external_url, s.v)

            def expand(text: str, data: AlertTemplateData = data) -> str:
                return expand_alert_template(text, self.name, data, template_query,
                                             self.external_url, t_ms)

            d = dict(labels)
            for k, v in self.labels.items():
                d[k] = expand(v)
            d[ALERTNAME] = self.name
            ls = Labels(d)
            if ls in found:
                raise RuleQueryError(
                    "vector contains metrics with the same labelset after applying alert labels")
            found[ls] = Alert(ls, {k: expand(v) for k, v in self.annotations.items()},
                              AlertState.PENDING, t_ms, s.v)
        # Work on a copy and swap it in at the end: the API reads `active` from another
        # thread while groups evaluate in worker threads.
        active = dict(self.active)
        for ls, a in found.items():
            cur = active.get(ls)
            if cur is not None and cur.state != AlertState.INACTIVE:
                cur.value = a.value
                cur.annotations = a.annotations
                continue
            active[ls] = a
        out: list[Sample] = []
        active_pending = 0
        for ls, a in list(active.items()):
            if ls not in found:
                keep_firing = False
                if a.state == AlertState.FIRING and self.keep_firing_for_ms > 0:
                    if a.keep_firing_since_ms == 0:
                        a.keep_firing_since_ms = t_ms
                    if t_ms - a.keep_firing_since_ms < self.keep_firing_for_ms:
                        keep_firing = True
                if a.state == AlertState.PENDING or (
                        a.resolved_at_ms and t_ms - a.resolved_at_ms > RESOLVED_RETENTION_MS):
                    del active[ls]
                if a.state != AlertState.INACTIVE and not keep_firing:
                    a.state = AlertState.INACTIVE
                    a.resolved_at_ms = t_ms
                if not keep_firing:
                    continue
            else:
                a.keep_firing_since_ms = 0
            active_pending += 1
            if a.state == AlertState.PENDING and t_ms - a.active_at_ms >= self.hold_ms:
                a.state = AlertState.FIRING
                a.fired_at_ms = t_ms
            if self.restored:
                out.append(Sample(self._series(a, ALERTS_METRIC), ts, 1.0))
                out.append(Sample(self._series(a, ALERTS_FOR_STATE_METRIC), ts,
                                  float(a.active_at_ms // 1000)))
        if limit > 0 and active_pending > limit:
            self.active = {}
            raise RuleQueryError(f"exceeded limit of {limit} with {active_pending} alerts")
        self.active = active
        return out

    @staticmethod
    def _series(a: Alert, metric: str) -> Labels:
        d = dict(a.labels)
        d[METRIC_NAME] = metric
        if metric == ALERTS_METRIC:
            d[ALERTSTATE] = str(a.state)
        return Labels(d)

    def for_state_labels(self, a: Alert) -> Labels:
        return self._series(a, ALERTS_FOR_STATE_METRIC)

    # --- views
    def state(self) -> AlertState:
        return max((a.state for a in self.active.values()), default=AlertState.INACTIVE)

    def active_alerts(self) -> list[Alert]:
        """Pending and firing alerts (resolved ones kept for notification are left out)."""
        return [a for a in self.active.values() if a.state != AlertState.INACTIVE]

    def alerts_to_send(self, t_ms: int, resend_delay_ms: int, interval_ms: int) -> list[Alert]:
        """Prometheus's sendAlerts: firing/resolved alerts due (again), stamped as sent."""
        out = []
        delta = max(resend_delay_ms, interval_ms)
        for a in self.active.values():
            if a.needs_sending(t_ms, resend_delay_ms):
                a.last_sent_ms = t_ms
                a.valid_until_ms = t_ms + 4 * delta
                out.append(a.copy())
        return out
