"""Inhibition: a firing source alert mutes target alerts that share the ``equal`` labels.

Evaluated at notification time against the current firing alerts, as Alertmanager does.
An alert that matches both sides of a rule is not inhibited by alerts that also match both
sides (so a rule cannot make alerts silence each other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from guardia.alerting.types import Alert, Clock, system_clock
from guardia.config.alertmanager import InhibitRule as InhibitRuleConfig
from guardia.model.labels import Labels
from guardia.model.matchers import Matcher


def _all(ms: tuple[Matcher, ...], labels: Labels) -> bool:
    return all(m.matches(labels.get(m.name)) for m in ms)


@dataclass(frozen=True)
class InhibitRule:
    sources: tuple[Matcher, ...]
    targets: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def from_config(cls, c: InhibitRuleConfig) -> InhibitRule:
        return cls(tuple(c.sources()), tuple(c.targets()), tuple(c.equal))


class Inhibitor:
    """A muter: ``mutes(labels)`` returns the fingerprint of an inhibiting alert, or None."""

    def __init__(self, rules: Iterable[InhibitRule], alerts: Callable[[], Iterable[Alert]],
                 clock: Clock = system_clock) -> None:
        self.rules = list(rules)
        self._alerts = alerts
        self.clock = clock

    def mutes(self, labels: Labels) -> int | None:
        if not self.rules:
            return None
        now = self.clock()
        active: list[Alert] | None = None
        for r in self.rules:
            if not _all(r.targets, labels):
                continue
            if active is None:
                active = [a for a in self._alerts() if not a.resolved_at(now)]
            two_sided = _all(r.sources, labels)
            for a in active:
                if not _all(r.sources, a.labels):
                    continue
                if any(a.labels.get(n) != labels.get(n) for n in r.equal):
                    continue
                if two_sided and _all(r.targets, a.labels):
                    continue
                return a.fingerprint
        return None
