"""What the audit asks a running store, behind one small protocol.

Two sources answer it: ``HttpLive`` speaks the Prometheus HTTP API (``--url``: a guardia, a
Prometheus, anything with ``/api/v1/series``, ``/labels``, ``/query``, ``/metadata``,
``/targets`` and ``/status/runtimeinfo``), and ``LocalLive`` reads guardia's own store and
engine in-process (the continuous audit inside ``serve``).  Checks never know which.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # httpx is imported where a request is made (#28: ~2 MiB resident)
    import httpx

from guardia.model import parse_duration
from guardia.model.labels import Labels
from guardia.promql import parse as parse_promql
from guardia.promql.engine import Engine
from guardia.promql.plan import VectorSelector
from guardia.storage.interface import Queryable

HOUR_S = 3600.0


class LiveError(RuntimeError):
    """The store could not answer; the check that asked reports it instead of guessing."""


class Live(Protocol):
    name: str

    def metric_names(self) -> set[str]: ...

    def series(self, selector: str, lookback_s: float = HOUR_S) -> list[dict[str, str]]: ...

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]: ...

    def metric_type(self, name: str) -> str | None: ...

    def job_intervals(self) -> dict[str, float]: ...

    def retention_s(self) -> float | None: ...


def redact_url(url: str) -> str:
    """``url`` without the ``user:password@`` it may carry (``--url`` takes credentials there)."""
    p = urlsplit(url)
    if "@" not in p.netloc:
        return url
    return urlunsplit((p.scheme, p.netloc.rsplit("@", 1)[-1], p.path, p.query, p.fragment))


TOKEN_ENV = "GUARDIA_TOKEN"


def auth_headers() -> dict[str, str]:
    """``Authorization: Bearer $GUARDIA_TOKEN`` when set: an API token for a guardia with sign-in
    (``user:password@`` in the URL works too)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _seconds(text: str) -> float | None:
    """``15d`` (or Prometheus's ``15d or 10GiB``) in seconds; None when there is no time limit."""
    first = text.strip().split(" ")[0] if text else ""
    try:
        return parse_duration(first) / 1000 if first else None
    except ValueError:
        return None


class HttpLive:
    """A guardia or Prometheus asked through its HTTP API; answers are cached for one audit."""

    def __init__(self, url: str, timeout: float = 15.0, client: httpx.Client | None = None) -> None:
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        self._base = url.rstrip("/")
        self.name = redact_url(self._base)  # what findings print: never the password of user:pw@
        self._client = client or httpx.Client(timeout=timeout, headers=auth_headers())
        self._cache: dict[tuple[str, ...], Any] = {}

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, **params: Any) -> Any:
        key = (path, *(f"{k}={v}" for k, v in sorted(params.items())))
        if key in self._cache:
            return self._cache[key]
        import httpx

        try:
            r = self._client.get(self._base + path, params=params)
        except httpx.HTTPError as e:
            raise LiveError(f"{self.name}{path}: {redact_url(str(e)) or type(e).__name__}") from None
        if r.status_code in (401, 403):
            raise LiveError(f"{self.name}{path} answered HTTP {r.status_code}: give a viewer's credentials "
                            f"(user:password@ in --url, or an API token in ${TOKEN_ENV})")
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            err = body.get("error") if isinstance(body, dict) else r.text[:200]
            raise LiveError(f"{self.name}{path} answered HTTP {r.status_code}: {err}")
        self._cache[key] = body.get("data")
        return self._cache[key]

    def metric_names(self) -> set[str]:
        return set(self._get("/api/v1/label/__name__/values") or [])

    def series(self, selector: str, lookback_s: float = HOUR_S) -> list[dict[str, str]]:
        now = time.time()
        # rounded so one audit's repeated questions hit the cache
        end = float(int(now // 60 + 1) * 60)
        return list(self._get("/api/v1/series", **{"match[]": selector, "start": f"{end - lookback_s:.0f}",
                                                   "end": f"{end:.0f}"}) or [])

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        data = self._get("/api/v1/query", query=expr)
        if not isinstance(data, dict):
            return []
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        if data.get("resultType") != "vector":
            return []
        return [(dict(s.get("metric") or {}), float(s["value"][1])) for s in data.get("result") or []]

    def metric_type(self, name: str) -> str | None:
        try:
            data = self._get("/api/v1/metadata", metric=name)
        except LiveError:
            return None
        entries = data.get(name) if isinstance(data, dict) else None
        if entries:
            t = entries[0].get("type")
            return str(t) if t and t != "unknown" else None
        return None

    def job_intervals(self) -> dict[str, float]:
        try:
            data = self._get("/api/v1/targets", state="active")
        except LiveError:
            return {}
        out: dict[str, float] = {}
        for t in (data or {}).get("activeTargets") or []:
            job = (t.get("labels") or {}).get("job") or t.get("scrapePool")
            iv = _seconds(str(t.get("scrapeInterval") or ""))
            if job and iv:
                out[job] = max(out.get(job, 0.0), iv)
        return out

    def retention_s(self) -> float | None:
        try:
            data = self._get("/api/v1/status/runtimeinfo")
        except LiveError:
            return None
        return _seconds(str((data or {}).get("storageRetention") or ""))


class LocalLive:
    """guardia's own store and engine, read in-process (no HTTP round trips).

    Answers are cached for the object's life: make one per audit (``AuditService`` does)."""

    def __init__(self, storage: Queryable, engine: Engine, *, name: str = "guardia",
                 intervals: Callable[[], Mapping[str, float]] | None = None,
                 retention_s: float | None = None,
                 metadata: Callable[[str], str | None] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.name = name
        self._storage = storage
        self._engine = engine
        self._intervals = intervals
        self._retention = retention_s
        self._metadata = metadata
        self._now = now
        self._series: dict[tuple[str, float], list[dict[str, str]]] = {}
        self._queries: dict[str, list[tuple[dict[str, str], float]]] = {}

    def _range(self, lookback_s: float) -> tuple[int, int]:
        end = int(self._now() * 1000)
        return end - int(lookback_s * 1000), end

    def metric_names(self) -> set[str]:
        q = self._storage.querier(0, int(self._now() * 1000) + 60_000)
        try:
            return set(q.label_values("__name__"))
        finally:
            q.close()

    def series(self, selector: str, lookback_s: float = HOUR_S) -> list[dict[str, str]]:
        key = (selector, lookback_s)
        if key not in self._series:
            self._series[key] = self._read_series(selector, lookback_s)
        return self._series[key]

    def _read_series(self, selector: str, lookback_s: float) -> list[dict[str, str]]:
        node = parse_promql(selector)
        if not isinstance(node, VectorSelector):
            raise LiveError(f"not a selector: {selector}")
        mint, maxt = self._range(lookback_s)
        q = self._storage.querier(mint, maxt)
        try:
            return [dict(ls) for ls in q.series(list(node.matchers))]
        finally:
            q.close()

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        if expr not in self._queries:
            self._queries[expr] = self._query(expr)
        return self._queries[expr]

    def _query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        try:
            res = self._engine.instant(self._storage, expr, int(self._now() * 1000), timeout_s=30)
        except Exception as e:
            raise LiveError(f"{expr}: {e}") from None
        if res.type == "scalar":
            v = res.value[1] if isinstance(res.value, tuple) else res.value
            return [({}, float(v))]
        if res.type != "vector":
            return []
        return [(_labels_dict(s.labels), float(s.v)) for s in res.value]

    def metric_type(self, name: str) -> str | None:
        return self._metadata(name) if self._metadata is not None else None

    def job_intervals(self) -> dict[str, float]:
        return dict(self._intervals()) if self._intervals is not None else {}

    def retention_s(self) -> float | None:
        return self._retention


def _labels_dict(labels: Labels | Mapping[str, str]) -> dict[str, str]:
    return dict(labels)
