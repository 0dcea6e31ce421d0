"""Run rule files through guardia's rule engine over a stored history, one evaluation at a
time, exactly as ``guardia serve`` would, and record which alerts fire when."""

from __future__ import annotations

from dataclasses import dataclass, field

from guardia.config.rulefile import RuleFile, load_rule_file
from guardia.promql import Engine
from guardia.rules import AlertingRule, AlertState, GroupOptions
from guardia.rules.manager import build_group
from guardia.rules.metrics import RuleMetrics
from guardia.rules.query import engine_query_func
from guardia.storage.memory import MemoryStorage


@dataclass
class Firing:
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass
class Replay:
    times: list[int] = field(default_factory=list)
    firing: list[list[Firing]] = field(default_factory=list)

    def active(self, **match: str) -> list[bool]:
        """Per evaluation: does any firing alert carry all of ``match``'s labels."""
        return [any(all(f.labels.get(k) == v for k, v in match.items()) for f in fs)
                for fs in self.firing]

    def transitions(self, **match: str) -> list[tuple[int, str]]:
        out, prev = [], False
        for t, on in zip(self.times, self.active(**match), strict=True):
            if on != prev:
                out.append((t, "fired" if on else "resolved"))
            prev = on
        return out


def replay(rule_files: list[RuleFile | str], storage: MemoryStorage, start_ms: int, end_ms: int,
           step_ms: int) -> Replay:
    opts = GroupOptions(storage=storage, query=engine_query_func(Engine(), storage),
                        metrics=RuleMetrics(), run_in_thread=False)
    groups = []
    for rf in rule_files:
        loaded = load_rule_file(rf) if isinstance(rf, str) else rf
        for g in loaded.groups:
            groups.append(build_group(loaded.file or "slo", g, opts, step_ms, {}, "",
                                      restore=False))
    out = Replay()
    t = start_ms
    while t <= end_ms:
        firing = []
        for g in groups:
            g.eval(t)
            for r in g.rules:
                if r.health.health == "err":
                    raise AssertionError(f"rule {r.name} failed at {t}: {r.health.last_error}")
                if isinstance(r, AlertingRule):
                    firing += [Firing(dict(a.labels), dict(a.annotations))
                               for a in r.active.values() if a.state == AlertState.FIRING]
        out.times.append(t)
        out.firing.append(firing)
        t += step_ms
    return out
