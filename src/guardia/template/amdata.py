"""Alertmanager's template data types (``template.Data``), for notification templates.

Templates call Go methods on these values (``.CommonLabels.SortedPairs``,
``.CommonLabels.Remove .GroupLabels.Names``, ``.Alerts.Firing``), so the classes carry those
methods with Go's names and print as Go prints them (maps as ``map[k:v]``, pairs as
``{name value}``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from guardia.template.builtins import StringMap
from guardia.template.gotime import GoTime, as_go_time


@dataclass(frozen=True, slots=True)
class Pair:
    Name: str
    Value: str


class Pairs(list[Pair]):
    def Names(self) -> list[str]:
        return [p.Name for p in self]

    def Values(self) -> list[str]:
        return [p.Value for p in self]


class KV(StringMap):
    """A label or annotation set (map[string]string) with Alertmanager's KV methods."""

    def SortedPairs(self) -> Pairs:
        return Pairs(Pair(k, self[k]) for k in sorted(self))

    def Names(self) -> list[str]:
        return sorted(self)

    def Values(self) -> list[str]:
        return [self[k] for k in sorted(self)]

    def Remove(self, keys: Iterable[str]) -> KV:
        drop = set(keys)
        return KV({k: v for k, v in self.items() if k not in drop})


@dataclass
class AMAlert:
    """One alert of a notification (``template.Alert``)."""

    Status: str
    Labels: KV
    Annotations: KV
    StartsAt: GoTime
    EndsAt: GoTime
    GeneratorURL: str = ""
    Fingerprint: str = ""


class Alerts(list[AMAlert]):
    def Firing(self) -> Alerts:
        return Alerts(a for a in self if a.Status == "firing")

    def Resolved(self) -> Alerts:
        return Alerts(a for a in self if a.Status == "resolved")


@dataclass
class AMData:
    """``.`` of a notification template (Alertmanager's ``template.Data``)."""

    Receiver: str
    Status: str
    Alerts: Alerts
    GroupLabels: KV = field(default_factory=KV)
    CommonLabels: KV = field(default_factory=KV)
    CommonAnnotations: KV = field(default_factory=KV)
    ExternalURL: str = ""


def kv(m: Mapping[str, str]) -> KV:
    return KV(dict(m))


def go_time(t: _dt.datetime) -> GoTime:
    return as_go_time(t)
