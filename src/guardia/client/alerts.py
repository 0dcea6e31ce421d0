"""The alert an application pushes, in the Alertmanager API v2 shape.

``POST /api/v2/alerts`` takes a list of ``{labels, annotations, startsAt, endsAt,
generatorURL}``.  Firing is an alert without ``endsAt`` (the Alertmanager resolves it after
``resolve_timeout`` unless it is sent again); resolving is the same labels with ``endsAt`` now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_alert(alertname: str, *, labels: Mapping[str, str] | None = None,
                annotations: Mapping[str, str] | None = None, severity: str | None = None,
                summary: str | None = None, resolved: bool = False, generator_url: str = "",
                at: dt.datetime | None = None) -> dict[str, Any]:
    """One alert as the API v2 JSON (``resolved``: ``endsAt`` set to now)."""
    if not alertname:
        raise ValueError("an alert needs a name")
    lb = {"alertname": alertname, **{str(k): str(v) for k, v in (labels or {}).items()}}
    if severity:
        lb["severity"] = severity
    ann = {str(k): str(v) for k, v in (annotations or {}).items()}
    if summary:
        ann["summary"] = summary
    now = at or _now()
    alert: dict[str, Any] = {"labels": lb, "annotations": ann}
    if resolved:
        alert["endsAt"] = _rfc3339(now)
    else:
        alert["startsAt"] = _rfc3339(now)
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert
