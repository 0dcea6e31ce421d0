"""Target groups: the unit every discovery mechanism produces.

A group is a list of targets (each a label set holding at least ``__address__``) plus labels
common to all of them, and a ``source`` naming where it came from, so a provider can replace
exactly its own groups when something changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TargetGroup:
    source: str
    targets: tuple[dict[str, str], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    def target_label_sets(self) -> list[dict[str, str]]:
        """Each target's labels merged with the group's (the target's own labels win)."""
        out = []
        for t in self.targets:
            lb = dict(self.labels)
            lb.update(t)
            out.append(lb)
        return out
