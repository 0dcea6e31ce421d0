"""The embedded Alertmanager's silences as maintenance windows use them (milliseconds in, nanoseconds in
the Alertmanager), and its active alerts as status pages read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from guardia.alerting import ListedAlert
from guardia.model import Matcher
from guardia.web.alertmanager_v2 import gettable_alerts

NS_PER_MS = 1_000_000


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
