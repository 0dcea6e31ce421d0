"""Inhibition: a firing source alert mutes target alerts that share the ``equal`` labels.

Evaluated at notification time against the current firing alerts, as Alertmanager does.
An alert that matches both sides of a rule is not inhibited by alerts that also match both
sides (so a rule cannot make alerts silence each other).

Each rule keeps an index of its source alerts keyed by their ``equal`` label values, rebuilt
only when the alert store changes (``version``), so checking N alerts costs N lookups, not
N × N comparisons.
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

    def key(self, labels: Labels) -> tuple[str, ...]:
        return tuple(labels.get(n) for n in self.equal)


class Inhibitor:
    """A muter: ``mutes(labels)`` returns the fingerprint of an inhibiting alert, or None."""

    def __init__(self, rules: Iterable[InhibitRule], alerts: Callable[[], Iterable[Alert]],
                 clock: Clock = system_clock, version: Callable[[], int] | None = None) -> None:
        self.rules = list(rules)
        self._alerts = alerts
        self.clock = clock
        self._version = version
        self._built_for: int | None = None
        self._index: list[dict[tuple[str, ...], list[Alert]]] = []

    def _sources(self) -> list[dict[tuple[str, ...], list[Alert]]]:
        v = self._version() if self._version is not None else None
        if v is None or v != self._built_for:
            index: list[dict[tuple[str, ...], list[Alert]]] = [{} for _ in self.rules]
            for a in self._alerts():
                for i, r in enumerate(self.rules):
                    if _all(r.sources, a.labels):
                        index[i].setdefault(r.key(a.labels), []).append(a)
            self._index, self._built_for = index, v
        return self._index

    def mutes(self, labels: Labels) -> int | None:
        if not self.rules:
            return None
        now = self.clock()
        index: list[dict[tuple[str, ...], list[Alert]]] | None = None
        for i, r in enumerate(self.rules):
            if not _all(r.targets, labels):
                continue
            if index is None:
                index = self._sources()
            two_sided = _all(r.sources, labels)
            for a in index[i].get(r.key(labels), ()):
                if a.resolved_at(now):
                    continue  # the index may hold alerts that resolved since it was built
                if two_sided and _all(r.targets, a.labels):
                    continue
                return a.fingerprint
        return None
