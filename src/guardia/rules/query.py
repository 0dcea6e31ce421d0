"""The one thing rules need from PromQL: an instant query that yields a vector.

Rules never see the engine or the storage (as in Prometheus, where rules get a
``QueryFunc``), so a remote engine can stand in for the local one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from guardia.model import Labels
from guardia.promql import Engine, Sample
from guardia.storage.interface import Queryable


class RuleQueryError(Exception):
    """A rule's query failed; the message is what the rules API shows as ``lastError``."""


class QueryFunc(Protocol):
    def __call__(self, expr: str, t_ms: int) -> list[Sample]: ...


def engine_query_func(engine: Engine, storage: Queryable) -> QueryFunc:
    """Prometheus's EngineQueryFunc: scalars become a one-sample vector, other types fail."""

    def query(expr: str, t_ms: int) -> list[Sample]:
        try:
            res = engine.instant(storage, expr, t_ms)
        except Exception as e:  # any engine failure is this rule's error
            raise RuleQueryError(str(e)) from e
        if res.type == "vector":
            return list(res.value)
        if res.type == "scalar":
            t, v = res.value
            return [Sample(Labels(), int(t), float(v))]
        raise RuleQueryError("rule result is not a vector or scalar")

    return query


TemplateQuery = Callable[[str], list[Sample]]


class InstantQueryClient(Protocol):
    """A remote engine that evaluates whole expressions (``storage.remote.PromQLAPIClient``)."""

    def instant(self, expr: str, t_ms: int) -> list[tuple[Labels, int, float]]: ...


def remote_query_func(client: InstantQueryClient) -> QueryFunc:
    """Rules evaluated where the data is: each expression goes whole to the remote engine's
    PromQL API (vmalert's way); its errors are this rule's errors."""

    def query(expr: str, t_ms: int) -> list[Sample]:
        try:
            return [Sample(labels, t, v) for labels, t, v in client.instant(expr, t_ms)]
        except Exception as e:
            raise RuleQueryError(str(e)) from e

    return query
