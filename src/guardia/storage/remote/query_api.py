"""Whole PromQL queries pushed down to another engine's Prometheus HTTP API.

A remote read moves every sample a query touches to guardia; for a central store holding many
sites that is the wrong way round.  This client sends the expression itself to
``/api/v1/query`` of the engine (VictoriaMetrics, Prometheus, Thanos Query, Mimir's
``/prometheus`` prefix all speak it) and takes back the instant vector or scalar, as vmalert
does: rule groups, dashboards, SLOs and reports that name the engine evaluate there, where the
data is (``call`` is the general form the dashboards' and reports' readers use).

Its base URL is the ``remote_read`` entry's URL without the ``/api/v1/read`` suffix, so one
entry names an engine for both modes.  Runs in worker threads (rule evaluation), so the
client is a blocking one.
"""

from __future__ import annotations

from typing import Any

import orjson

from guardia import __version__
from guardia.config.httpclient import new_sync_client
from guardia.config.prometheus import RemoteReadConfig
from guardia.model import Labels

Vector = list[tuple[Labels, int, float]]


class RemoteQueryError(RuntimeError):
    """The remote engine refused or failed the query; its ``errorType: error`` when it said."""


def api_base(url: str) -> str:
    """The Prometheus API root an endpoint URL belongs to (``.../api/v1/read`` → ``...``)."""
    for suffix in ("/api/v1/read", "/api/v1/write", "/api/v1/query"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url.rstrip("/")


class PromQLAPIClient:
    """``instant(expr, t_ms)`` against one engine's ``/api/v1/query``."""

    def __init__(self, cfg: RemoteReadConfig) -> None:
        self.name = cfg.name or cfg.url
        self.base = api_base(cfg.url)
        headers = {"User-Agent": f"guardia/{__version__}", "Accept": "application/json",
                   **(cfg.headers or {})}
        self._client = new_sync_client(cfg, headers=headers, timeout_s=cfg.remote_timeout / 1000)

    def close(self) -> None:
        self._client.close()

    def call(self, path: str, params: dict[str, str] | list[tuple[str, str]], method: str = "POST") -> Any:
        """``data`` of one Prometheus API call (a POSTed form, as Grafana sends queries; GET
        where the API has no POST, label values); ``RemoteQueryError`` with the engine's
        reason when it refuses or is not one."""
        if isinstance(params, list):  # repeated keys (match[]): httpx takes them as lists
            multi: dict[str, list[str]] = {}
            for k, v in params:
                multi.setdefault(k, []).append(v)
            params = multi  # type: ignore[assignment]
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        try:
            if method == "GET":
                resp = self._client.get(f"{self.base}{path}", params=params)  # type: ignore[arg-type]
            else:
                resp = self._client.post(f"{self.base}{path}", data=params)  # type: ignore[arg-type]
        except httpx.HTTPError as e:
            raise RemoteQueryError(f"{self.name}: {type(e).__name__}: {e}") from None
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise RemoteQueryError(f"{self.name}: answered {resp.status_code} without the Prometheus "
                                   f"API's JSON ({resp.text[:120].strip()!r}); is {self.base} a PromQL "
                                   "API?") from None
        if body.get("status") != "success":
            raise RemoteQueryError(f"{self.name}: {body.get('errorType', 'error')}: "
                                   f"{body.get('error', resp.status_code)}")
        return body["data"]

    def instant(self, expr: str, t_ms: int) -> Vector:
        """The instant vector (a scalar: one sample without labels) ``expr`` gives at ``t_ms``."""
        data = self.call("/api/v1/query", {"query": expr, "time": f"{t_ms / 1000:.3f}"})
        rtype, result = data.get("resultType"), data.get("result")
        if rtype == "scalar":
            return [(Labels(), round(float(result[0]) * 1000), float(result[1]))]
        if rtype != "vector":
            raise RemoteQueryError(f"{self.name}: a rule needs a vector or a scalar, the engine returned "
                                   f"{rtype}")
        return [(Labels(s["metric"]), round(float(s["value"][0]) * 1000), float(s["value"][1]))
                for s in result]
