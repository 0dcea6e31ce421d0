"""The embedded Alertmanager's silences as maintenance windows use them (milliseconds in, nanoseconds in
the Alertmanager), and the active alerts as status pages read them: from the embedded
Alertmanager, or from the external ones ``alerting.alertmanagers`` names when there is none."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from guardia.alerting import ListedAlert
from guardia.model import Matcher
from guardia.rules.notifier import AlertmanagerTarget
from guardia.web.alertmanager_v2 import gettable_alerts

NS_PER_MS = 1_000_000

log = logging.getLogger("guardia.status")


class _Silences(Protocol):
    def set(self, *, matchers: list[Matcher], starts_at: int, ends_at: int, created_by: str = "",
            comment: str = "", sid: str | None = None) -> str: ...

    def expire(self, sid: str) -> None: ...


class _Alerts(Protocol):
    def alerts(self, *, matchers: list[Matcher] | None = None, active: bool = True, silenced: bool = True,
               inhibited: bool = True, unprocessed: bool = True, receiver: str | None = None
               ) -> list[ListedAlert]: ...


class SilencesInMs:
    """A ``probes.status.SilenceSink`` over Alertmanager ``Silences`` (which count in nanoseconds)."""

    def __init__(self, silences: _Silences) -> None:
        self._silences = silences

    def set(self, *, matchers: list[Matcher], starts_at: int, ends_at: int, created_by: str = "",
            comment: str = "", sid: str | None = None) -> str:
        return self._silences.set(matchers=matchers, starts_at=starts_at * NS_PER_MS,
                                  ends_at=ends_at * NS_PER_MS, created_by=created_by, comment=comment,
                                  sid=sid)

    def expire(self, sid: str) -> None:
        self._silences.expire(sid)


def firing_alerts(am: _Alerts | None) -> list[Mapping[str, Any]]:
    """Alerts that are firing and not muted (a silenced alert opens no incident), in the API v2
    ``gettableAlert`` shape."""
    if am is None:
        return []
    return list(gettable_alerts(am.alerts(active=True, silenced=False, inhibited=False, unprocessed=True)))


async def firing_alerts_external(targets: Sequence[AlertmanagerTarget]) -> list[Mapping[str, Any]] | None:
    """Active, unmuted alerts from the first external Alertmanager that answers (the members of
    an HA cluster hold the same alerts and silences); None when none answers, so the caller keeps
    its incidents open rather than resolving them all because a network hop failed."""
    import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

    reasons = []
    for t in targets:
        try:
            r = await t.client.get(t.url, params={"active": "true", "silenced": "false",
                                                  "inhibited": "false"}, timeout=t.timeout_s)
            r.raise_for_status()
            alerts = r.json()
            if not isinstance(alerts, list):
                raise ValueError("the answer is not a list of alerts")
            return [a for a in alerts
                    if isinstance(a, dict) and (a.get("status") or {}).get("state", "active") == "active"]
        except (httpx.HTTPError, ValueError) as e:
            reasons.append(f"{t.url}: {e}")
    if reasons:
        log.warning("event=status_alerts_unavailable reason=%r", "; ".join(reasons))
    return None
