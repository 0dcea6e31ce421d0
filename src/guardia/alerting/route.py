"""The routing tree: which routes (and so receivers and timers) an alert's labels reach.

Built once from the validated config.  Settings are inherited from the parent as
Alertmanager does (receiver, group_by, group_wait, group_interval, repeat_interval), while
mute/active time intervals belong to the route that names them.  ``match`` walks children
depth-first and stops at the first match unless that child has ``continue: true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from guardia.config.alertmanager import Route as RouteConfig
from guardia.model.am_matchers import format_matchers
from guardia.model.labels import Labels
from guardia.model.matchers import Matcher

DEFAULT_GROUP_WAIT_MS = 30_000
DEFAULT_GROUP_INTERVAL_MS = 5 * 60_000
DEFAULT_REPEAT_INTERVAL_MS = 4 * 3600_000


@dataclass(eq=False)
class Route:
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait_ms: int = DEFAULT_GROUP_WAIT_MS
    group_interval_ms: int = DEFAULT_GROUP_INTERVAL_MS
    repeat_interval_ms: int = DEFAULT_REPEAT_INTERVAL_MS
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    continue_: bool = False
    parent: Route | None = None
    routes: list[Route] = field(default_factory=list)
    index: int = 0
    escalate: tuple[tuple[int, str], ...] = ()  # (after ms, receiver): this route's own, not inherited

    @classmethod
    def from_config(cls, cfg: RouteConfig, parent: Route | None = None, index: int = 0) -> Route:
        r = cls(receiver=cfg.receiver or (parent.receiver if parent else ""), parent=parent, index=index)
        if parent is not None:
            r.group_by, r.group_by_all = parent.group_by, parent.group_by_all
            r.group_wait_ms = parent.group_wait_ms
            r.group_interval_ms = parent.group_interval_ms
            r.repeat_interval_ms = parent.repeat_interval_ms
        if cfg.group_by is not None:
            r.group_by_all = "..." in cfg.group_by
            r.group_by = frozenset() if r.group_by_all else frozenset(cfg.group_by)
        if cfg.group_wait is not None:
            r.group_wait_ms = cfg.group_wait
        if cfg.group_interval is not None:
            r.group_interval_ms = cfg.group_interval
        if cfg.repeat_interval is not None:
            r.repeat_interval_ms = cfg.repeat_interval
        r.matchers = tuple(cfg.all_matchers())
        r.mute_time_intervals = tuple(cfg.mute_time_intervals)
        r.active_time_intervals = tuple(cfg.active_time_intervals)
        r.continue_ = cfg.continue_
        r.escalate = tuple((step.after, step.receiver) for step in cfg.escalate)
        r.routes = [cls.from_config(c, r, i) for i, c in enumerate(cfg.routes)]
        return r

    def key(self) -> str:
        """``{}/{severity="critical"}``: the route part of Alertmanager's group key."""
        own = format_matchers(self.matchers)
        return own if self.parent is None else f"{self.parent.key()}/{own}"

    def id(self) -> str:
        """Key plus sibling index, unique even when two siblings share matchers (AM 0.26+)."""
        own = format_matchers(self.matchers)
        if self.parent is None:
            return own
        return f"{self.parent.id()}/{own}/{self.index}"

    def matches(self, labels: Labels) -> bool:
        return all(m.matches(labels.get(m.name)) for m in self.matchers)

    def match(self, labels: Labels) -> list[Route]:
        """The routes that take this alert (empty if this route does not match)."""
        if not self.matches(labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            out.extend(hits)
            if hits and not child.continue_:
                break
        return out or [self]

    def group_labels(self, labels: Labels) -> Labels:
        if self.group_by_all:
            return labels
        return Labels.from_sorted(p for p in labels if p[0] in self.group_by)

    def walk(self) -> Iterator[Route]:
        yield self
        for c in self.routes:
            yield from c.walk()

    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth() + 1
