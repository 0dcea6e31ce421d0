"""An alert as it travels from rule evaluation to an Alertmanager: labels, annotations, times.

Prometheus's ``common/model.Alert`` plays this part between its rule engine and Alertmanager;
here rules build it and hand it to the embedded Alertmanager in-process, and the Alertmanager
API turns it into and out of its JSON.  Times are integer nanoseconds since the epoch (0 means
Go's zero time, "not given").  The fingerprint is Prometheus's FNV-1a label-set hash, the
``fingerprint`` field of the webhook payload and the API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from guardia.model.labels import Labels

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def fingerprint(labels: Labels | Mapping[str, str]) -> int:
    """Prometheus's ``LabelSet.Fingerprint``: FNV-1a over sorted names and values, 0xff-separated."""
    h = _FNV_OFFSET
    items = labels if isinstance(labels, Labels) else sorted(labels.items())
    for name, value in items:
        for b in name.encode():
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
        for b in value.encode():
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return h


def fingerprint_hex(fp: int) -> str:
    return f"{fp:016x}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert; ``ends_at`` 0 means "no end given" (never the case once received)."""

    labels: Labels
    annotations: Labels = field(default_factory=Labels)
    starts_at: int = 0
    ends_at: int = 0
    generator_url: str = ""
    updated_at: int = 0
    timeout: bool = False
    _fp: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fp", fingerprint(self.labels))  # asked for at every stage

    @property
    def fingerprint(self) -> int:
        return self._fp

    def resolved_at(self, now: int) -> bool:
        return self.ends_at != 0 and self.ends_at <= now

    def status(self, now: int) -> str:
        return "resolved" if self.resolved_at(now) else "firing"

    def replace(self, **changes: object) -> Alert:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def merge(self, newer: Alert) -> Alert:
        """Alertmanager's ``Alert.Merge``: combine two reports of the same alert."""
        a, o = self, newer
        if o.updated_at < a.updated_at:
            a, o = o, a
        starts = a.starts_at if a.starts_at < o.starts_at else o.starts_at
        ends = o.ends_at
        now_ref = o.updated_at
        if o.resolved_at(now_ref):
            if a.resolved_at(now_ref) and a.ends_at > o.ends_at:
                ends = a.ends_at
        elif a.ends_at > o.ends_at and not a.timeout:
            ends = a.ends_at
        return dataclasses.replace(o, starts_at=starts, ends_at=ends)
