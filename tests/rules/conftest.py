"""Builders for rule groups over an in-memory store and the real PromQL engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from guardia.config.rulefile import parse_rule_file
from guardia.config.yamlsource import parse_yaml
from guardia.model import Labels, Matcher
from guardia.promql import Engine
from guardia.rules.group import Group, GroupOptions
from guardia.rules.manager import build_group
from guardia.rules.metrics import RuleMetrics
from guardia.rules.query import QueryFunc, engine_query_func
from guardia.storage.memory import MemoryStorage

MIN = 60_000


def make_group(text: str, storage: MemoryStorage, *, query: QueryFunc | None = None,
               notify: Callable[..., Any] | None = None, restore: bool = False,
               registry: CollectorRegistry | None = None, external_labels: dict[str, str]
               | None = None, **opts: Any) -> Group:
    rf, issues = parse_rule_file(parse_yaml(text, "rules.yml"))
    assert rf is not None, [str(i) for i in issues]
    go = GroupOptions(storage=storage, query=query or engine_query_func(Engine(), storage),
                      notify=notify, metrics=RuleMetrics(registry or CollectorRegistry()),
                      run_in_thread=False, **opts)
    return build_group("rules.yml", rf.groups[0], go, MIN, external_labels or {},
                       "http://guardia.example:9090", restore=restore)


def series(storage: MemoryStorage, name: str, mint: int = 0, maxt: int = 2**62
           ) -> dict[Labels, list[tuple[int, float]]]:
    """All samples of metric ``name`` (NaN staleness markers included)."""
    q = storage.querier(mint, maxt)
    out = {}
    for s in q.select([Matcher.equal("__name__", name)]):
        out[s.labels] = list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
    return out


def last_value(storage: MemoryStorage, name: str, **labels: str) -> float | None:
    for ls, pts in series(storage, name).items():
        if all(ls.get(k) == v for k, v in labels.items()):
            return pts[-1][1]
    return None


def is_stale(v: float | None) -> bool:
    return v is not None and bool(np.isnan(v))
