"""Dashboards over a remote engine: the ``MetricsReader`` reads answered by another engine's
Prometheus API (VictoriaMetrics, Prometheus, Thanos Query, Mimir), named by a ``remote_read``
entry, so a panel or a variable whose Grafana ``datasource`` names that entry shows the
central store's data, not this guardia's.

Queries are pushed down whole (``/api/v1/query``, ``/api/v1/query_range``), label lookups go to
``/api/v1/labels`` and ``/api/v1/label/NAME/values``; answers are shaped like the engine's
``QueryResult`` so the panel code does not know the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.storage.remote.query_api import PromQLAPIClient


@dataclass(frozen=True, slots=True)
class RemoteSeries:
    labels: Labels
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RemoteSample:
    labels: Labels
    t: int
    v: float


@dataclass(frozen=True, slots=True)
class RemoteResult:
    type: str
    value: Any
    warnings: list[str] = field(default_factory=list)


def _ms(t: Any) -> int:
    return round(float(t) * 1000)


def _window(start_ms: int, end_ms: int) -> list[tuple[str, str]]:
    return [("start", f"{start_ms / 1000:.3f}"), ("end", f"{end_ms / 1000:.3f}")]


class RemoteEngineReader:
    """A ``MetricsReader`` whose every read is a call to one remote engine."""

    def __init__(self, client: PromQLAPIClient) -> None:
        self.client = client
        self.name = client.name

    def _result(self, data: Any) -> RemoteResult:
        rtype, result = data.get("resultType"), data.get("result")
        if rtype == "matrix":
            return RemoteResult("matrix", [
                RemoteSeries(Labels(s["metric"]), np.array([_ms(p[0]) for p in s["values"]], np.int64),
                             np.array([float(p[1]) for p in s["values"]], np.float64))
                for s in result])
        if rtype == "vector":
            return RemoteResult("vector", [RemoteSample(Labels(s["metric"]), _ms(s["value"][0]),
                                                        float(s["value"][1])) for s in result])
        if rtype == "scalar":
            return RemoteResult("scalar", (_ms(result[0]), float(result[1])))
        return RemoteResult(str(rtype), result)

    def instant(self, expr: str, t_ms: int) -> RemoteResult:
        return self._result(self.client.call("/api/v1/query", {"query": expr, "time": f"{t_ms / 1000:.3f}"}))

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> RemoteResult:
        return self._result(self.client.call("/api/v1/query_range", [
            ("query", expr), *_window(start_ms, end_ms), ("step", f"{step_ms / 1000:.3f}")]))

    def label_values(self, label: str, selector: str, start_ms: int, end_ms: int) -> list[str]:
        params = _window(start_ms, end_ms) + ([("match[]", selector)] if selector.strip() else [])
        return sorted(self.client.call(f"/api/v1/label/{label}/values", params, "GET") or [])

    def label_names(self, selector: str, start_ms: int, end_ms: int) -> list[str]:
        params = _window(start_ms, end_ms) + ([("match[]", selector)] if selector.strip() else [])
        return sorted(self.client.call("/api/v1/labels", params, "GET") or [])

    def existing(self, names: Sequence[str], start_ms: int, end_ms: int) -> set[str]:
        if not names:
            return set()
        return set(names) & set(self.label_values("__name__", "", start_ms, end_ms))
