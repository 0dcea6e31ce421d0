"""Deployments recorded as series, the input of the DORA metrics.

``POST /api/v1/deployments`` (service, version, status, started and finished times, commit)
becomes, at the finish time:

- ``guardia_deployment_info{service, version, status, commit}`` = the finish time in unix
  seconds (one sample per deployment, so ``count_over_time(...[7d])`` counts deployments);
- ``guardia_deployment_lead_time_seconds{service, version}`` = finish minus the commit time
  (``commit_time``) or, without one, minus ``started``: DORA's "lead time for changes", for
  successful deployments only (a failed one delivered nothing).

``status`` is ``success``, ``failed`` or ``rolled_back``.  Other packages (reports, the DORA
checks) read these series with PromQL or a querier; this module is their only writer.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.interface import Queryable, Storage

INFO = "guardia_deployment_info"
LEAD_TIME = "guardia_deployment_lead_time_seconds"
STATUSES = ("success", "failed", "rolled_back")
FIELDS = ("service", "version", "status", "started", "finished", "commit", "commit_time")


class DeploymentError(ValueError):
    """A deployment the API refuses; the message says which field and what to send."""


@dataclass(frozen=True, slots=True)
class Deployment:
    service: str
    version: str
    status: str
    finished_ms: int
    started_ms: int | None = None
    commit: str = ""
    commit_time_ms: int | None = None

    @property
    def lead_time_s(self) -> float | None:
        since = self.commit_time_ms if self.commit_time_ms is not None else self.started_ms
        return None if since is None else (self.finished_ms - since) / 1000


def _time_ms(value: Any, field: str) -> int:
    """RFC 3339 (``2025-11-07T10:00:00Z``) or unix seconds, as Prometheus's API accepts times."""
    if isinstance(value, bool):
        raise DeploymentError(f"{field} must be an RFC 3339 time or unix seconds, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise DeploymentError(f"{field} must be a finite time")
        return round(value * 1000)
    if isinstance(value, str):
        try:
            return round(float(value) * 1000)
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DeploymentError(f"{field} {value!r} is not an RFC 3339 time (2025-11-07T10:00:00Z) "
                                  "or unix seconds") from None
        if parsed.tzinfo is None:
            raise DeploymentError(f"{field} {value!r} has no time zone: add Z or +00:00")
        return round(parsed.timestamp() * 1000)
    raise DeploymentError(f"{field} must be an RFC 3339 time or unix seconds")


def _text(payload: Mapping[str, Any], field: str, required: bool) -> str:
    v = payload.get(field)
    if v is None or v == "":
        if required:
            raise DeploymentError(f"{field} is required")
        return ""
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise DeploymentError(f"{field} must be a string")
    return str(v)


def parse_deployment(payload: Any, now_ms: int | None = None) -> Deployment:
    """A ``Deployment`` from the API's JSON body; ``finished`` defaults to now."""
    if not isinstance(payload, Mapping):
        raise DeploymentError("the body must be a JSON object with service, version and status")
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise DeploymentError(f"unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}")
    service, version = _text(payload, "service", True), _text(payload, "version", True)
    status = _text(payload, "status", True)
    if status not in STATUSES:
        raise DeploymentError(f"status {status!r} must be one of {', '.join(STATUSES)}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    times = {f: _time_ms(payload[f], f) for f in ("finished", "started", "commit_time")
             if payload.get(f) is not None}
    finished, started, ctime = times.get("finished", now), times.get("started"), times.get("commit_time")
    if started is not None and started > finished:
        raise DeploymentError("started is after finished")
    if ctime is not None and ctime > finished:
        raise DeploymentError("commit_time is after finished")
    if finished > now + 5 * 60_000:
        raise DeploymentError("finished is in the future")
    return Deployment(service, version, status, finished, started, _text(payload, "commit", False), ctime)


def samples(d: Deployment) -> list[tuple[Labels, int, float]]:
    out = [(Labels({"__name__": INFO, "service": d.service, "version": d.version, "status": d.status,
                    "commit": d.commit}), d.finished_ms, d.finished_ms / 1000)]
    lead = d.lead_time_s
    if d.status == "success" and lead is not None:
        out.append((Labels({"__name__": LEAD_TIME, "service": d.service, "version": d.version}),
                    d.finished_ms, lead))
    return out


class DeploymentRecorder:
    """Writes deployments to the store (what ``POST /api/v1/deployments`` calls)."""

    def __init__(self, storage: Storage, clock: Any = time.time) -> None:
        self.storage = storage
        self.clock = clock

    def record(self, payload: Any) -> Deployment:
        d = parse_deployment(payload, int(self.clock() * 1000))
        app = self.storage.appender()
        try:
            for lb, t, v in samples(d):
                app.append(lb, t, v)
            stats = app.commit()
        except Exception as e:
            app.rollback()
            raise DeploymentError(f"the deployment could not be stored: {e}") from None
        if stats.rejected:
            raise DeploymentError("the deployment could not be stored: its finished time is older than the "
                                  "store accepts (out of bounds or out of order), or it was already recorded "
                                  "with another value")
        return d


def read_deployments(db: Queryable, mint_ms: int, maxt_ms: int) -> list[Deployment]:
    """Every deployment recorded in [mint, maxt], oldest first (lead times joined by service and
    version)."""
    q = db.querier(mint_ms, maxt_ms)
    try:
        info = q.select([Matcher("__name__", MatchType.EQUAL, INFO)])
        leads = q.select([Matcher("__name__", MatchType.EQUAL, LEAD_TIME)])
    finally:
        q.close()
    lead_of: dict[tuple[str, str], float] = {}
    for s in leads:
        lb = dict(s.labels)
        if len(s):
            lead_of[(lb.get("service", ""), lb.get("version", ""))] = float(s.values[-1])
    out: list[Deployment] = []
    for s in info:
        lb = dict(s.labels)
        for t in s.timestamps.tolist():
            lead = lead_of.get((lb.get("service", ""), lb.get("version", "")))
            started = None if lead is None or lb.get("status") != "success" else int(t - lead * 1000)
            out.append(Deployment(lb.get("service", ""), lb.get("version", ""), lb.get("status", ""), int(t),
                                  started, lb.get("commit", "")))
    out.sort(key=lambda d: (d.finished_ms, d.service))
    return out
