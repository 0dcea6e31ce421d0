"""Recording rules: evaluate an expression and name its output series."""

from __future__ import annotations

from dataclasses import dataclass, field

from guardia.config.rulefile import Rule
from guardia.model import METRIC_NAME, Labels
from guardia.promql import Sample
from guardia.rules.health import RuleHealth
from guardia.rules.query import QueryFunc, RuleQueryError


@dataclass
class RecordingRule:
    name: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)
    health: RuleHealth = field(default_factory=RuleHealth)

    @classmethod
    def from_config(cls, rule: Rule) -> RecordingRule:
        return cls(name=rule.record or "", expr=rule.expr, labels=dict(rule.labels))

    def eval(self, t_ms: int, query_offset_ms: int, query: QueryFunc, limit: int) -> list[Sample]:
        """The samples to write at ``t_ms - query_offset_ms``; raises RuleQueryError."""
        ts = t_ms - query_offset_ms
        vector = query(self.expr, ts)
        out: list[Sample] = []
        seen: set[Labels] = set()
        for s in vector:
            d = dict(s.labels)
            d[METRIC_NAME] = self.name
            for k, v in self.labels.items():
                d[k] = v
            ls = Labels(d)
            if ls in seen:
                raise RuleQueryError(
                    "vector contains metrics with the same labelset after applying rule labels")
            seen.add(ls)
            out.append(Sample(ls, ts, s.v, s.h))
        if limit > 0 and len(out) > limit:
            raise RuleQueryError(f"exceeded limit of {limit} with {len(out)} series")
        return out
