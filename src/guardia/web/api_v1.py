"""Prometheus HTTP API v1 (``/api/v1/...``): same paths, parameters, envelopes, error types.

Handlers parse parameters with ``guardia.web.params``, call one narrow dependency
(``ApiDeps``), and shape the answer with ``guardia.web.format``.  PromQL runs in a worker
thread so scrapes and rule evaluation on the event loop keep their rhythm during a heavy
query; a ``timeout`` bounds how long the client waits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import promql_parser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia import __version__
from guardia.model import Labels, Matcher, format_rfc3339
from guardia.model.escaping import unescape_values
from guardia.model.matchers import matches_all
from guardia.storage.exemplars import ExemplarStore
from guardia.storage.interface import Querier, Queryable
from guardia.web import exemplars_api
from guardia.web.envelope import ApiError, bad_data, error_response, success, success_raw
from guardia.web.format import fmt_time, fmt_value_e, result_json
from guardia.web.params import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    Params,
    parse_duration_param,
    parse_limit,
    parse_match_params,
    parse_selector,
    parse_time_param,
    read_params,
)
from guardia.web.protocols import (
    AlertmanagerRetriever,
    AlertView,
    QueryEngine,
    QueryObserver,
    RuleGroupView,
    RulesRetriever,
    RuleView,
    Snapshotter,
    StatusRetriever,
    TargetRetriever,
    TSDBStatusRetriever,
)

MAX_POINTS_PER_SERIES = 11_000
log = logging.getLogger("guardia.web.api")


@dataclass
class ApiDeps:
    """Everything the API reads from; ``None`` means "this guardia runs without it"."""

    storage: Queryable
    engine: QueryEngine | None = None
    targets: TargetRetriever | None = None
    rules: RulesRetriever | None = None
    status: StatusRetriever | None = None
    snapshotter: Snapshotter | None = None
    enable_admin_api: bool = False
    query_timeout_s: float = 120.0
    lookback_delta_ms: int = 5 * 60 * 1000
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    query_observer: QueryObserver | None = None
    tsdb_status: TSDBStatusRetriever | None = None
    alertmanagers: AlertmanagerRetriever | None = None
    exemplars: ExemplarStore | None = None
    # metadata of pushed metrics (OTLP): family name -> (type, help, unit)
    pushed_metadata: Callable[[], Mapping[str, tuple[str, str, str]]] | None = None
    # cancel events of the queries running now, so shutdown can stop them promptly
    running: set[threading.Event] = field(default_factory=set)

    def cancel_running_queries(self) -> None:
        for ev in list(self.running):
            ev.set()


def _internal(request: Request, e: Exception) -> Response:
    """An unexpected failure: logged with its traceback, answered with the envelope only."""
    log.exception("event=api_internal_error path=%s", request.url.path)
    return error_response(ApiError("internal", f"{type(e).__name__}: {e}"))


async def _guarded(request: Request, respond: Callable[[], Awaitable[Response]]) -> Response:
    """Every handler's failures become the error envelope, never a stack trace."""
    try:
        return await respond()
    except ApiError as e:
        return error_response(e)
    except Exception as e:
        return _internal(request, e)


def _endpoint(deps: ApiDeps, fn: Callable[[ApiDeps, Params], Awaitable[Response]]) -> Any:
    async def handle(request: Request) -> Response:
        async def respond() -> Response:
            return await fn(deps, await read_params(request))

        return await _guarded(request, respond)

    return handle


def _limited(out: list[Any], limit: int) -> Response:
    """Apply the API's ``limit`` parameter with Prometheus's truncation warning."""
    if limit and len(out) > limit:
        return success(out[:limit], ["results truncated due to limit"])
    return success(out, [])


# ---------------------------------------------------------------- queries


def _is_promql_error(e: BaseException) -> bool:
    return isinstance(getattr(e, "error_type", None), str)


QueryFn = Callable[[QueryEngine, float, threading.Event], Any]


async def _run_query(deps: ApiDeps, params: Params, fn: QueryFn, expr: str) -> Any:
    timeout_ms = parse_duration_param(params, "timeout")
    if deps.engine is None:
        raise ApiError("unavailable", "the PromQL engine is not available in this guardia")
    engine = deps.engine
    timeout = deps.query_timeout_s
    if timeout_ms is not None and timeout_ms > 0:
        timeout = min(timeout, timeout_ms / 1000)
    obs = deps.query_observer
    if obs is not None:
        obs.started()
    started = time.perf_counter()
    failure: str | None = None
    cancel = threading.Event()
    deps.running.add(cancel)
    try:
        # The engine enforces the timeout itself; the wait here is a backstop (+1 s).
        return await asyncio.wait_for(asyncio.to_thread(fn, engine, timeout, cancel), timeout + 1)
    except TimeoutError:
        cancel.set()
        failure = "timeout"
        raise ApiError("timeout", "query timed out in expression evaluation") from None
    except asyncio.CancelledError:
        cancel.set()  # client went away: stop the evaluation thread too
        failure = "canceled"
        raise
    except Exception as e:
        err = _as_api_error(e)
        failure = err.error_type
        raise err from None
    finally:
        deps.running.discard(cancel)
        if obs is not None:
            obs.finished(time.perf_counter() - started, failure)


def _as_api_error(e: Exception) -> ApiError:
    if isinstance(e, ApiError):
        return e
    if _is_promql_error(e):
        etype = str(e.error_type)  # type: ignore[attr-defined]
        msg = str(e)
        if etype == "bad_data" and type(e).__name__ == "ParseError":
            msg = f'invalid parameter "query": {msg}'
        return ApiError(etype, msg)
    return ApiError("execution", f"{type(e).__name__}: {e}")


def _required(params: Params, name: str) -> str:
    v = params.get(name)
    if v is None or v == "":
        if name == "query":
            raise bad_data('invalid parameter "query": 1:1: parse error: no expression found in input')
        raise bad_data(f'invalid parameter "{name}": cannot parse "" to a valid timestamp')
    return v


def _truncate(result: Any, limit: int) -> tuple[Any, list[str]]:
    if limit and result.type in ("vector", "matrix") and len(result.value) > limit:
        return list(result.value)[:limit], ["results truncated due to limit"]
    return result.value, []


async def query(deps: ApiDeps, params: Params) -> Response:
    expr = _required(params, "query")
    t = parse_time_param(params, "time", deps.now_ms())
    limit = parse_limit(params)
    res = await _run_query(
        deps, params, lambda e, to, c: e.instant(deps.storage, expr, t, timeout_s=to, cancel=c), expr
    )
    value, warns = _truncate(res, limit)
    return success_raw(result_json(res.type, value), [*res.warnings, *warns], res.infos)


async def query_range(deps: ApiDeps, params: Params) -> Response:
    expr = params.get("query") or ""
    for name in ("start", "end"):
        if not params.get(name):
            raise bad_data(f'invalid parameter "{name}": cannot parse "" to a valid timestamp')
    start = parse_time_param(params, "start", 0)
    end = parse_time_param(params, "end", 0)
    if end < start:
        raise bad_data('invalid parameter "end": end timestamp must not be before start time')
    step = parse_duration_param(params, "step")
    if step is None:
        raise bad_data('invalid parameter "step": cannot parse "" to a valid duration')
    if step <= 0:
        raise bad_data(
            'invalid parameter "step": zero or negative query resolution step widths are not '
            "accepted. Try a positive integer"
        )
    if (end - start) // step > MAX_POINTS_PER_SERIES:
        raise bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
            "query resolution (?step=XX)"
        )
    if not expr:
        _required(params, "query")
    limit = parse_limit(params)
    res = await _run_query(deps, params, lambda e, to, c: e.range(
            deps.storage, expr, start, end, step, timeout_s=to, cancel=c
        ), expr)
    value, warns = _truncate(res, limit)
    return success_raw(result_json(res.type, value), [*res.warnings, *warns], res.infos)


async def format_query(deps: ApiDeps, params: Params) -> Response:
    expr = params.get("query") or ""
    try:
        return success(promql_parser.parse(expr).prettify())
    except ValueError as e:
        raise bad_data(f'invalid parameter "query": 1:1: parse error: {e}') from None


async def query_exemplars(deps: ApiDeps, params: Params) -> Response:
    # Prometheus reports this endpoint's parse errors without the 'invalid parameter "query"'
    # prefix its query endpoints use
    expr = params.get("query") or ""
    start = parse_time_param(params, "start", MIN_TIME_MS)
    end = parse_time_param(params, "end", MAX_TIME_MS)
    if end < start:
        raise bad_data("end timestamp must not be before start timestamp")
    try:
        data = await asyncio.to_thread(exemplars_api.query, deps.exemplars, expr, start, end)
    except Exception as e:
        if _is_promql_error(e) and type(e).__name__ == "ParseError":
            raise bad_data(str(e)) from None
        raise _as_api_error(e) from None
    if data is None:  # no selector in the expression: Prometheus answers 204 with no body
        return Response(status_code=204)
    return success(data)


# ---------------------------------------------------------------- series & labels


def _range(deps: ApiDeps, params: Params) -> tuple[int, int]:
    start = parse_time_param(params, "start", MIN_TIME_MS)
    end = parse_time_param(params, "end", MAX_TIME_MS)
    if end < start:
        raise bad_data('invalid parameter "end": end timestamp must not be before start time')
    return start, end


async def series(deps: ApiDeps, params: Params) -> Response:
    if not params.getlist("match[]"):
        raise bad_data("no match[] parameter provided")
    selectors = parse_match_params(params)
    start, end = _range(deps, params)
    limit = parse_limit(params)

    def run() -> list[dict[str, str]]:
        q = deps.storage.querier(start, end)
        try:
            seen: dict[Labels, None] = {}
            for ms in selectors:
                seen.update(dict.fromkeys(q.series(ms)))
        finally:
            q.close()
        return [dict(lbl) for lbl in sorted(seen)]

    return _limited(await asyncio.to_thread(run), limit)


async def _label_listing(
    deps: ApiDeps, params: Params, fetch: Callable[[Querier, Sequence[Matcher]], list[str]]
) -> Response:
    """Label names or values in a time range, unioned over the ``match[]`` selectors."""
    selectors = parse_match_params(params)
    start, end = _range(deps, params)
    limit = parse_limit(params)

    def run() -> list[str]:
        q = deps.storage.querier(start, end)
        try:
            if not selectors:
                return list(fetch(q, ()))
            found: set[str] = set()
            for ms in selectors:
                found.update(fetch(q, ms))
            return sorted(found)
        finally:
            q.close()

    return _limited(await asyncio.to_thread(run), limit)


async def label_names(deps: ApiDeps, params: Params) -> Response:
    return await _label_listing(deps, params, lambda q, ms: q.label_names(ms))


def label_values_endpoint(deps: ApiDeps) -> Any:
    async def handle(request: Request) -> Response:
        async def respond() -> Response:
            # Prometheus 3: a UTF-8 name travels in the path escaped with the "values" scheme
            # (``U__k8s_2e_pod_2e_name``); any other non-empty UTF-8 name is valid as it is
            name = unescape_values(request.path_params["name"])
            if not name:
                raise bad_data(f'invalid label name: "{name}"')
            params = await read_params(request)
            return await _label_listing(deps, params, lambda q, ms: q.label_values(name, ms))

        return await _guarded(request, respond)

    return handle


# ---------------------------------------------------------------- targets & metadata


def _need_targets(deps: ApiDeps) -> TargetRetriever:
    if deps.targets is None:
        raise ApiError("unavailable", "scraping is not running in this guardia")
    return deps.targets


async def targets(deps: ApiDeps, params: Params) -> Response:
    state = (params.get("state") or "any").lower()
    pools = set(params.getlist("scrapePool"))
    tr = deps.targets
    active: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    warnings: list[str] = []
    if tr is not None:
        # Prometheus's target JSON has no field for these; the envelope's warnings do
        for pool, errs in sorted(tr.discovery_errors().items()):
            if not pools or pool in pools:
                warnings.extend(f'scrape pool "{pool}": {e}' for e in errs)
        if state in ("active", "any", ""):
            for t in tr.active_targets():
                if pools and t.scrape_pool not in pools:
                    continue
                warnings.extend(f"target {t.scrape_url}: {w}" for w in t.warnings)
                active.append(
                    {
                        "discoveredLabels": dict(t.discovered_labels),
                        "labels": dict(t.labels),
                        "scrapePool": t.scrape_pool,
                        "scrapeUrl": t.scrape_url,
                        "globalUrl": t.global_url or t.scrape_url,
                        "lastError": t.last_error,
                        "lastScrape": fmt_time(t.last_scrape_ms),
                        "lastScrapeDuration": t.last_scrape_duration_s,
                        "health": t.health,
                        "scrapeInterval": t.scrape_interval,
                        "scrapeTimeout": t.scrape_timeout,
                    }
                )
        for d in tr.dropped_targets():
            if pools and d.scrape_pool not in pools:
                continue
            counts[d.scrape_pool] = counts.get(d.scrape_pool, 0) + 1
            if state in ("dropped", "any", ""):
                dropped.append({"discoveredLabels": dict(d.discovered_labels), "scrapePool": d.scrape_pool})
    return success(
        {"activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts}, warnings
    )


async def targets_metadata(deps: ApiDeps, params: Params) -> Response:
    tr = _need_targets(deps)
    limit = parse_limit(params) if params.get("limit") not in (None, "", "-1") else 0
    metric = params.get("metric") or ""
    mt_raw = params.get("match_target") or ""
    target_matchers: Sequence[Matcher] = parse_selector(mt_raw) if mt_raw else ()
    out: list[dict[str, Any]] = []
    for t in tr.active_targets():
        if target_matchers and not matches_all(tuple(target_matchers), t.labels):
            continue
        for name, md in t.metadata.items():
            if metric and name != metric:
                continue
            entry: dict[str, Any] = {
                "target": dict(t.labels), "type": md.type, "help": md.help, "unit": md.unit
            }
            if not metric:
                entry["metric"] = name
            out.append(entry)
            if limit and len(out) >= limit:
                return success(out)
    return success(out)


def _int_param(params: Params, name: str) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return -1
    try:
        return int(raw)
    except ValueError:
        raise bad_data(f'invalid parameter "{name}": cannot parse "{raw}" to a valid integer') from None


async def metadata(deps: ApiDeps, params: Params) -> Response:
    limit = _int_param(params, "limit")
    per_metric = _int_param(params, "limit_per_metric")
    metric = params.get("metric") or ""
    out: dict[str, list[dict[str, str]]] = {}

    def add(name: str, entry: dict[str, str]) -> None:
        if metric and name != metric:
            return
        entries = out.get(name)
        if entries is None:
            if limit >= 0 and len(out) >= limit:
                return
            entries = out[name] = []
        if entry not in entries and not (per_metric > 0 and len(entries) >= per_metric):
            entries.append(entry)

    if deps.targets is not None:
        for t in deps.targets.active_targets():
            for name, md in t.metadata.items():
                add(name, {"type": md.type, "help": md.help, "unit": md.unit})
    if deps.pushed_metadata is not None:  # metrics pushed over OTLP
        for name, (mtype, help_, unit) in sorted(deps.pushed_metadata().items()):
            add(name, {"type": mtype, "help": help_, "unit": unit})
    return success(out)


# ---------------------------------------------------------------- rules & alerts


def _alert_json(a: AlertView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "state": a.state,
        "activeAt": format_rfc3339(a.active_at_ms) if a.active_at_ms is not None else None,
        "value": fmt_value_e(a.value),
    }
    if a.keep_firing_since_ms is not None:
        out["keepFiringSince"] = format_rfc3339(a.keep_firing_since_ms)
    return out


def _rule_state(r: RuleView) -> str:
    states = {a.state for a in r.alerts}
    if "firing" in states:
        return "firing"
    if "pending" in states:
        return "pending"
    return "inactive"


def _rule_json(r: RuleView, exclude_alerts: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.name,
        "query": r.query,
        "labels": dict(r.labels),
        "health": r.health,
        "evaluationTime": r.evaluation_time_s,
        "lastEvaluation": fmt_time(r.last_evaluation_ms),
        "type": r.type,
    }
    if r.last_error:
        out["lastError"] = r.last_error
    if r.type == "alerting":
        out["state"] = _rule_state(r)
        out["duration"] = r.duration_s
        out["keepFiringFor"] = r.keep_firing_for_s
        out["annotations"] = dict(r.annotations)
        if not exclude_alerts:
            out["alerts"] = [_alert_json(a) for a in r.alerts]
    return out


async def rules(deps: ApiDeps, params: Params) -> Response:
    rtype = (params.get("type") or "").lower()
    if rtype not in ("", "alert", "record"):
        raise bad_data(f'invalid parameter "type": unsupported type "{rtype}"; use alert or record')
    names = set(params.getlist("rule_name[]"))
    groups_f = set(params.getlist("rule_group[]"))
    files = set(params.getlist("file[]"))
    exclude_alerts = (params.get("exclude_alerts") or "").lower() == "true"
    groups_out: list[dict[str, Any]] = []
    groups: Sequence[RuleGroupView] = deps.rules.rule_groups() if deps.rules is not None else ()
    for g in groups:
        if (groups_f and g.name not in groups_f) or (files and g.file not in files):
            continue
        rules_out = []
        for r in g.rules:
            if rtype == "alert" and r.type != "alerting":
                continue
            if rtype == "record" and r.type != "recording":
                continue
            if names and r.name not in names:
                continue
            rules_out.append(_rule_json(r, exclude_alerts))
        if (rtype or names) and not rules_out:
            continue
        groups_out.append(
            {
                "name": g.name,
                "file": g.file,
                "rules": rules_out,
                "interval": g.interval_s,
                "limit": g.limit,
                "evaluationTime": g.evaluation_time_s,
                "lastEvaluation": fmt_time(g.last_evaluation_ms),
            }
        )
    return success({"groups": groups_out})


async def alerts(deps: ApiDeps, params: Params) -> Response:
    out: list[dict[str, Any]] = []
    if deps.rules is not None:
        for g in deps.rules.rule_groups():
            for r in g.rules:
                out.extend(_alert_json(a) for a in r.alerts)
    return success({"alerts": out})


# ---------------------------------------------------------------- status


# The Prometheus version whose API and PromQL guardia implements.  Grafana reads ``version``
# to decide which API features to use, so it must be a Prometheus version, as Mimir and
# VictoriaMetrics also do; guardia's own version is in ``guardiaVersion``.
PROMETHEUS_COMPAT_VERSION = "3.0.0"


async def buildinfo(deps: ApiDeps, params: Params) -> Response:
    return success(
        {
            "version": PROMETHEUS_COMPAT_VERSION,
            "application": "guardia",
            "guardiaVersion": __version__,
            "revision": "",
            "branch": "",
            "buildUser": "guardia",
            "buildDate": "",
            "goVersion": f"python{platform.python_version()}",
        }
    )


def _need_status(deps: ApiDeps) -> StatusRetriever:
    if deps.status is None:
        raise ApiError("unavailable", "status information is not available")
    return deps.status


async def status_config(deps: ApiDeps, params: Params) -> Response:
    return success({"yaml": _need_status(deps).config_yaml()})


async def status_flags(deps: ApiDeps, params: Params) -> Response:
    return success(dict(_need_status(deps).flags()))


async def runtimeinfo(deps: ApiDeps, params: Params) -> Response:
    rt = _need_status(deps).runtime()
    return success(
        {
            "startTime": format_rfc3339(rt.start_time_ms),
            "CWD": rt.cwd,
            "reloadConfigSuccess": rt.reload_config_success,
            # guardia's addition: why the last reload was refused ("" when it succeeded)
            "reloadConfigError": rt.last_reload_error,
            "lastConfigTime": format_rfc3339(rt.last_config_time_ms),
            "corruptionCount": 0,
            "goroutineCount": len(asyncio.all_tasks()),
            "GOMAXPROCS": os.cpu_count() or 1,
            "GOMEMLIMIT": 0,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": rt.storage_retention,
        }
    )


async def status_tsdb(deps: ApiDeps, params: Params) -> Response:
    limit = _int_param(params, "limit")
    if limit == -1:
        limit = 10
    if limit <= 0:
        raise bad_data('invalid parameter "limit": limit must be a positive number')
    if deps.tsdb_status is not None:
        return success(await asyncio.to_thread(deps.tsdb_status.tsdb_status, limit))
    now = deps.now_ms()
    window = (now - STATUS_WINDOW_MS, now)
    return success(await asyncio.to_thread(_generic_tsdb_status, deps.storage, limit, window))


# Cardinality on /status/tsdb is computed over series with samples in the last hour (what
# Prometheus's head holds, roughly), so the page stays cheap on a store with long history.
STATUS_WINDOW_MS = 3600 * 1000


def _generic_tsdb_status(storage: Queryable, limit: int, window: tuple[int, int]) -> dict[str, Any]:
    """Cardinality figures computed through the querier, for storages without an index of
    their own to read them from (the embedded store has one: ``web.adapters.IndexStatus``)."""
    q = storage.querier(*window)
    try:
        all_series = q.select([Matcher.parse("__name__", "=~", ".+")])
    finally:
        q.close()
    by_name: dict[str, int] = {}
    values_by_label: dict[str, set[str]] = {}
    pairs: dict[str, int] = {}
    mem_by_label: dict[str, int] = {}
    mint, maxt = MAX_TIME_MS, MIN_TIME_MS
    chunks = 0
    for s in all_series:
        by_name[s.labels.name] = by_name.get(s.labels.name, 0) + 1
        for k, v in s.labels:
            values_by_label.setdefault(k, set()).add(v)
            key = f"{k}={v}"
            pairs[key] = pairs.get(key, 0) + 1
        if len(s):
            mint = min(mint, int(s.timestamps[0]))
            maxt = max(maxt, int(s.timestamps[-1]))
            chunks += (len(s) + 119) // 120
    for k, vs in values_by_label.items():
        mem_by_label[k] = sum(len(v) for v in vs)

    def top(d: dict[str, int]) -> list[dict[str, Any]]:
        items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [{"name": k, "value": v} for k, v in items]

    return {
        "headStats": {
            "numSeries": len(all_series),
            "numLabelPairs": len(pairs),
            "chunkCount": chunks,
            "minTime": mint if all_series else 0,
            "maxTime": maxt if all_series else 0,
        },
        "seriesCountByMetricName": top(by_name),
        "labelValueCountByLabelName": top({k: len(v) for k, v in values_by_label.items()}),
        "memoryInBytesByLabelName": top(mem_by_label),
        "seriesCountByLabelValuePair": top(pairs),
    }


async def alertmanagers(deps: ApiDeps, params: Params) -> Response:
    """Prometheus's shape: the alerts URL of every Alertmanager rule alerts go to."""
    am = deps.alertmanagers
    active = list(am.active_alertmanagers()) if am is not None else []
    dropped = list(am.dropped_alertmanagers()) if am is not None else []
    return success({"activeAlertmanagers": [{"url": u} for u in active],
                    "droppedAlertmanagers": [{"url": u} for u in dropped]})


async def snapshot(deps: ApiDeps, params: Params) -> Response:
    if not deps.enable_admin_api:
        raise ApiError("unavailable", "admin APIs disabled")
    if deps.snapshotter is None:
        raise ApiError("unavailable", "this storage does not support snapshots")
    skip_head = (params.get("skip_head") or "false").lower()
    if skip_head not in ("true", "false", "1", "0", "t", "f"):
        raise bad_data(f'invalid parameter "skip_head": cannot parse "{skip_head}" to a valid boolean')
    with_head = skip_head not in ("true", "1", "t")
    snap = deps.snapshotter
    name = await asyncio.to_thread(snap.snapshot, "", with_head)
    return success({"name": name})


# ---------------------------------------------------------------- routing


def routes(deps: ApiDeps) -> list[Route]:
    """All API v1 routes; GET and POST where Prometheus accepts both."""
    gp = ["GET", "POST"]
    table: list[tuple[str, Callable[[ApiDeps, Params], Awaitable[Response]], list[str]]] = [
        ("/api/v1/query", query, gp),
        ("/api/v1/query_range", query_range, gp),
        ("/api/v1/query_exemplars", query_exemplars, gp),
        ("/api/v1/format_query", format_query, gp),
        ("/api/v1/series", series, gp),
        ("/api/v1/labels", label_names, gp),
        ("/api/v1/metadata", metadata, ["GET"]),
        ("/api/v1/targets", targets, ["GET"]),
        ("/api/v1/targets/metadata", targets_metadata, ["GET"]),
        ("/api/v1/rules", rules, ["GET"]),
        ("/api/v1/alerts", alerts, ["GET"]),
        ("/api/v1/alertmanagers", alertmanagers, ["GET"]),
        ("/api/v1/status/buildinfo", buildinfo, ["GET"]),
        ("/api/v1/status/config", status_config, ["GET"]),
        ("/api/v1/status/flags", status_flags, ["GET"]),
        ("/api/v1/status/runtimeinfo", runtimeinfo, ["GET"]),
        ("/api/v1/status/tsdb", status_tsdb, ["GET"]),
        ("/api/v1/admin/tsdb/snapshot", snapshot, ["POST", "PUT"]),
    ]
    out: list[Route] = [
        Route(path, _endpoint(deps, fn), methods=methods, name=path) for path, fn, methods in table
    ]
    out.append(
        Route(
            "/api/v1/label/{name:path}/values",
            label_values_endpoint(deps),
            methods=["GET"],
            name="/api/v1/label/:name/values",
        )
    )
    return out
