"""Alertmanager API v2's JSON shapes, in and out of guardia's alerting objects.

Names and fields follow Alertmanager's OpenAPI spec (``postableAlert``, ``gettableAlert``,
``alertGroup``, ``postableSilence``, ``gettableSilence``, ``alertmanagerStatus``), so amtool,
Grafana and the real Alertmanager's clients read them unchanged.  The ``alerting`` package
never sees these dicts: it takes and returns ``Alert``, ``Silence`` and listing objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from guardia.alerting import VERSION, Alert, Alertmanager, AlertValidationError, ListedAlert, ListedGroup
from guardia.alerting.outbox import Pending
from guardia.alerting.silence import Silence, SilenceError, matcher_from_api, matcher_to_api
from guardia.alerting.stages import Integration
from guardia.alerting.types import fingerprint_hex, format_time, parse_time
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.model.labels import Labels
from guardia.model.matchers import Matcher

# -- alerts in ----------------------------------------------------------------------------------


def _labels_from(d: Any, what: str) -> Labels:
    if d is None:
        return Labels()
    if not isinstance(d, dict):
        raise AlertValidationError(f"{what} must be an object of strings")
    return Labels({str(k): str(v) for k, v in d.items()})


def alert_from_postable(d: Any) -> Alert:
    """One ``postableAlert``; ``AlertValidationError`` names what is wrong with its shape."""
    if not isinstance(d, Mapping):
        raise AlertValidationError("alert must be a JSON object")
    if "labels" not in d:
        raise AlertValidationError("labels in body is required")
    try:
        t = {k: parse_time(str(d[k])) if d.get(k) else 0 for k in ("startsAt", "endsAt")}
    except ValueError as e:
        raise AlertValidationError(str(e)) from None
    return Alert(
        labels=_labels_from(d["labels"], "labels"),
        annotations=_labels_from(d.get("annotations"), "annotations"),
        starts_at=t["startsAt"], ends_at=t["endsAt"], generator_url=str(d.get("generatorURL") or ""),
    )


def alerts_from_postable(body: Sequence[Any], am: Alertmanager | None = None) -> list[Alert]:
    """A ``postableAlerts`` array, all or nothing: every malformed alert is named in one error
    (and counted in ``alertmanager_alerts_invalid_total`` when ``am`` is given)."""
    out: list[Alert] = []
    errors: list[str] = []
    for i, d in enumerate(body):
        try:
            out.append(alert_from_postable(d))
        except AlertValidationError as e:
            errors.append(f"alert {i}: {e}")
    if errors:
        if am is not None:
            am.metrics.alerts_invalid.labels("v2").inc(len(errors))
        raise AlertValidationError("; ".join(errors))
    return out


# -- alerts out ---------------------------------------------------------------------------------


def gettable_alert(listed: ListedAlert) -> dict[str, Any]:
    a, st = listed.alert, listed.status
    return {
        "annotations": dict(a.annotations),
        "endsAt": format_time(a.ends_at),
        "fingerprint": fingerprint_hex(a.fingerprint),
        "receivers": [{"name": r} for r in listed.receivers],
        "startsAt": format_time(a.starts_at),
        "status": {
            "state": st.state, "silencedBy": list(st.silenced_by), "inhibitedBy": list(st.inhibited_by),
        },
        "updatedAt": format_time(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": dict(a.labels),
    }


def gettable_alerts(listed: Sequence[ListedAlert]) -> list[dict[str, Any]]:
    return [gettable_alert(x) for x in listed]


def alert_groups(groups: Sequence[ListedGroup]) -> list[dict[str, Any]]:
    return [
        {"labels": dict(g.labels), "receiver": {"name": g.receiver}, "alerts": gettable_alerts(g.alerts)}
        for g in groups
    ]


# -- silences -----------------------------------------------------------------------------------


def gettable_silence(s: Silence, now: int) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": {"state": s.state(now)},
        "updatedAt": format_time(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": format_time(s.ends_at),
        "matchers": [matcher_to_api(m) for m in s.matchers],
        "startsAt": format_time(s.starts_at),
    }


def parse_api_silence(body: Any) -> dict[str, Any]:
    """Validate a ``postableSilence`` into keyword arguments for ``Silences.set``."""
    if not isinstance(body, dict):
        raise SilenceError("silence must be a JSON object")
    for key in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
        if key not in body:
            raise SilenceError(f"{key} in body is required")
    if not isinstance(body["matchers"], list):
        raise SilenceError("matchers in body must be of type array")
    try:
        starts, ends = parse_time(str(body["startsAt"])), parse_time(str(body["endsAt"]))
    except ValueError as e:
        raise SilenceError(str(e)) from None
    return {
        "matchers": [matcher_from_api(m) for m in body["matchers"]],
        "starts_at": starts, "ends_at": ends,
        "created_by": str(body["createdBy"]), "comment": str(body["comment"]),
        "sid": str(body["id"]) if body.get("id") else None,
    }


# -- status -------------------------------------------------------------------------------------


def _config_yaml(cfg: AlertmanagerConfig) -> str:
    data = cfg.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False)


def alertmanager_status(am: Alertmanager) -> dict[str, Any]:
    return {
        "cluster": {"status": "disabled", "peers": [], "name": ""},
        "versionInfo": {"version": VERSION, "revision": "", "branch": "", "buildUser": "",
                        "buildDate": "", "goVersion": "python"},
        "config": {"original": _config_yaml(am.config)},
        "uptime": format_time(am.started_at),
    }


def pending_notifications(pending: Sequence[Pending], now: int) -> list[dict[str, Any]]:
    """The retry queue as ``GET /api/v2/notifications/pending`` shows it (a guardia addition to
    API v2): one object per undelivered notification, oldest first."""
    return [{
        "id": e.id, "receiver": e.receiver.name, "integration": e.receiver.integration,
        "index": e.receiver.index, "groupKey": e.group_key, "groupLabels": e.group_labels,
        "alerts": len(e.alerts), "attempts": e.attempts, "lastError": e.last_error,
        "queuedAt": format_time(e.queued_at), "ageSeconds": round(max(0, now - e.queued_at) / 1e9, 3),
        "nextAttempt": format_time(e.next_try),
    } for e in pending]


def integration_status(integrations: Sequence[Integration]) -> list[dict[str, Any]]:
    """Per receiver integration: last attempt, its error, since when it has been failing."""
    out = []
    for i in integrations:
        st = i.state
        out.append({
            "receiver": i.key.name, "integration": i.key.integration, "index": i.key.index,
            "sendResolved": i.send_resolved,
            "lastNotifyAttempt": format_time(st.last_attempt_ns),
            "lastNotifyAttemptDuration": f"{st.last_duration_s:.3f}s",
            "lastNotifyAttemptError": st.last_error,
            "failingSince": format_time(st.failing_since_ns) if st.failing_since_ns else None,
            "consecutiveFailures": st.consecutive_failures,
            "queued": st.queued,
            "recent": [{"at": format_time(a.at_ns), "groupKey": a.group_key, "alerts": a.alerts,
                        "error": a.error} for a in reversed(st.recent)],
        })
    return out


class ApiV2View:
    """An Alertmanager seen through API v2's shapes, for pages that show what ``/api/v2`` shows
    (``web.ui.sources.AlertmanagerView``)."""

    def __init__(self, am: Alertmanager) -> None:
        self._am = am

    def alerts(self, *, matchers: list[Matcher] | None = None, active: bool = True, silenced: bool = True,
               inhibited: bool = True, unprocessed: bool = True, receiver: str | None = None
               ) -> list[dict[str, Any]]:
        return gettable_alerts(self._am.alerts(matchers=matchers, active=active, silenced=silenced,
                                               inhibited=inhibited, unprocessed=unprocessed,
                                               receiver=receiver))

    def silence_list(self, matchers: list[Matcher] | None = None) -> list[dict[str, Any]]:
        now = self._am.clock()
        return [gettable_silence(s, now) for s in self._am.silence_list(matchers)]

    def integration_status(self) -> list[dict[str, Any]]:
        return integration_status(self._am.integration_states())

    def receiver_names(self) -> list[str]:
        return self._am.receiver_names()
