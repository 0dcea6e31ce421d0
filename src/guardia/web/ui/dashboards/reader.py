"""The few reads dashboards make of the store, as one narrow protocol and its implementation
over a ``Queryable`` and the PromQL engine (label values for variables, instant and range
queries for panels, which metric names exist)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from guardia.model import Matcher
from guardia.rules.check import selectors
from guardia.storage.interface import Queryable
from guardia.web.protocols import QueryEngine


class SelectorError(ValueError):
    pass


class MetricsReader(Protocol):
    def label_values(self, label: str, selector: str, start_ms: int, end_ms: int) -> list[str]: ...

    def label_names(self, selector: str, start_ms: int, end_ms: int) -> list[str]: ...

    def instant(self, expr: str, t_ms: int) -> Any:
        """A ``QueryResult`` (type, value, warnings) of the engine."""
        ...

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> Any: ...

    def existing(self, names: Sequence[str], start_ms: int, end_ms: int) -> set[str]:
        """Which of these metric names have series in the range."""
        ...


def selector_matchers(selector: str) -> list[Matcher]:
    """``up{job="x"}`` or ``{job="x"}`` as matchers; empty text selects everything."""
    if not selector.strip():
        return [Matcher.parse("__name__", "=~", ".+")]
    try:
        found = selectors(selector)
    except Exception as e:
        raise SelectorError(f"{selector!r} is not a series selector: {e}") from None
    if len(found) != 1:
        raise SelectorError(f"{selector!r} is not one series selector")
    return list(found[0].matchers)


@dataclass
class StoreReader:
    storage: Queryable
    engine: QueryEngine | None
    timeout_s: float = 30.0
    # A view's ``guardia.promql.Memo``: its queries evaluate a shared subexpression once.
    memo: Any = None

    def label_values(self, label: str, selector: str, start_ms: int, end_ms: int) -> list[str]:
        q = self.storage.querier(start_ms, end_ms)
        try:
            if not selector.strip():
                return sorted(q.label_values(label))
            return sorted(q.label_values(label, selector_matchers(selector)))
        finally:
            q.close()

    def label_names(self, selector: str, start_ms: int, end_ms: int) -> list[str]:
        q = self.storage.querier(start_ms, end_ms)
        try:
            return sorted(q.label_names(selector_matchers(selector) if selector.strip() else ()))
        finally:
            q.close()

    def _engine(self) -> QueryEngine:
        if self.engine is None:
            raise RuntimeError("the PromQL engine is not available in this guardia")
        return self.engine

    def instant(self, expr: str, t_ms: int) -> Any:
        if self.memo is None:
            return self._engine().instant(self.storage, expr, t_ms, timeout_s=self.timeout_s)
        return self._engine().instant(self.storage, expr, t_ms, timeout_s=self.timeout_s, memo=self.memo)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> Any:
        eng, t = self._engine(), self.timeout_s
        if self.memo is None:
            return eng.range(self.storage, expr, start_ms, end_ms, step_ms, timeout_s=t)
        return eng.range(self.storage, expr, start_ms, end_ms, step_ms, timeout_s=t, memo=self.memo)

    def existing(self, names: Sequence[str], start_ms: int, end_ms: int) -> set[str]:
        if not names:
            return set()
        q = self.storage.querier(start_ms, end_ms)
        try:
            known = set(q.label_values("__name__"))
        finally:
            q.close()
        return {n for n in names if n in known}
