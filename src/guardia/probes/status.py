"""What a status page says besides the probes: incidents, scheduled maintenance, subscribers.

Incidents have a timeline of updates (investigating, identified, monitoring, resolved); they
are opened by people or automatically from the alerts a page names (``incident_alerts``) and
resolved when those alerts resolve.  A maintenance window is one object doing three things:
it mutes the alerts of its probes through the silence mechanism (a real silence, visible to
amtool), marks its probes as in maintenance so that time does not count against uptime, and
shows on the page.  Everything is kept in one JSON file under the data directory, written
atomically, so it survives a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from guardia.model import Labels, Matcher, MatchType
from guardia.model.matchers import matches_all, parse_matchers

log = logging.getLogger("guardia.status")

INCIDENT_STATES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("none", "minor", "major", "critical")


class StatusError(ValueError):
    """A request about incidents or maintenance that cannot be done; the message says why."""


class SilenceSink(Protocol):
    """The silence mechanism as maintenance uses it (the embedded Alertmanager's silences)."""

    def set(self, *, matchers: list[Matcher], starts_at: int, ends_at: int, created_by: str = "",
            comment: str = "", sid: str | None = None) -> str: ...

    def expire(self, sid: str) -> None: ...


@dataclass(slots=True)
class Update:
    at_ms: int
    status: str
    message: str
    author: str = ""


@dataclass(slots=True)
class Incident:
    id: str
    page: str
    title: str
    status: str
    impact: str
    created_ms: int
    resolved_ms: int = 0
    source: str = ""  # "" (a person) or "alert:<fingerprint>"
    probes: list[str] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status != "resolved"


@dataclass(slots=True)
class Maintenance:
    id: str
    pages: list[str]
    title: str
    description: str
    starts_ms: int
    ends_ms: int
    probes: list[str]
    matchers: list[str] = field(default_factory=list)
    silence_id: str = ""
    cancelled: bool = False

    def active(self, now_ms: int) -> bool:
        return not self.cancelled and self.starts_ms <= now_ms < self.ends_ms

    def state(self, now_ms: int) -> str:
        if self.cancelled or now_ms >= self.ends_ms:
            return "completed"
        return "in progress" if now_ms >= self.starts_ms else "scheduled"


PENDING_FOR_MS = 7 * 86_400_000
"""An email subscription nobody confirmed within a week is forgotten."""


@dataclass(slots=True)
class Subscriber:
    """One subscription.  ``token`` is the secret in its confirm and unsubscribe links; an email
    address hears nothing until its owner confirms (double opt-in), so a stranger cannot sign
    somebody else up; a webhook is confirmed at once (its owner typed the URL)."""

    page: str
    kind: str  # email | webhook
    address: str
    created_ms: int
    token: str = ""
    confirmed: bool = True


Notify = Callable[[str, Incident | Maintenance, str], None]
"""Called with (page slug, the incident or maintenance, what happened) after every change."""


class StatusStore:
    def __init__(self, path: Path | None, *, silences: SilenceSink | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.silences = silences
        self.clock = clock
        self.incidents: dict[str, Incident] = {}
        self.maintenance: dict[str, Maintenance] = {}
        self.subscribers: list[Subscriber] = []
        self.listeners: list[Notify] = []
        # called with a new (or re-requested) email subscription that waits for its confirmation
        self.confirmation_listeners: list[Callable[[Subscriber], None]] = []
        self._load()

    # -- persistence --------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as e:
            raise StatusError(f"cannot read status data {self.path}: {e}; "
                              "move it away to start empty") from None
        for d in data.get("incidents", []):
            d["updates"] = [Update(**u) for u in d.get("updates", [])]
            inc = Incident(**d)
            self.incidents[inc.id] = inc
        for d in data.get("maintenance", []):
            m = Maintenance(**d)
            self.maintenance[m.id] = m
        self.subscribers = [Subscriber(**d) for d in data.get("subscribers", [])]
        for sub in self.subscribers:  # kept by a version without links: confirmed, as they were
            sub.token = sub.token or secrets.token_urlsafe(24)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({
            "incidents": [asdict(i) for i in self.incidents.values()],
            "maintenance": [asdict(m) for m in self.maintenance.values()],
            "subscribers": [asdict(s) for s in self.subscribers],
        }, indent=1))
        os.replace(tmp, self.path)

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def _emit(self, page: str, obj: Incident | Maintenance, what: str) -> None:
        for listener in self.listeners:
            try:
                listener(page, obj, what)
            except Exception:
                log.exception("event=status_listener_failed page=%s", page)

    # -- incidents ----------------------------------------------------------------------------

    def page_incidents(self, page: str) -> list[Incident]:
        return sorted((i for i in self.incidents.values() if i.page == page), key=lambda i: -i.created_ms)

    def open_incident(self, page: str, title: str, message: str, *, status: str = "investigating",
                      impact: str = "major", author: str = "", source: str = "",
                      probes: Sequence[str] = ()) -> Incident:
        _check_choice("status", status, INCIDENT_STATES[:-1])
        _check_choice("impact", impact, IMPACTS)
        if not title.strip():
            raise StatusError("an incident needs a title")
        now = self._now()
        inc = Incident(secrets.token_hex(6), page, title.strip(), status, impact, now, source=source,
                       probes=list(probes), updates=[Update(now, status, message.strip(), author)])
        self.incidents[inc.id] = inc
        self._save()
        self._emit(page, inc, "opened")
        return inc

    def update_incident(self, iid: str, status: str, message: str, author: str = "") -> Incident:
        inc = self.incidents.get(iid)
        if inc is None:
            raise StatusError(f"no incident {iid}")
        _check_choice("status", status, INCIDENT_STATES)
        if not message.strip():
            raise StatusError("an update needs a message")
        now = self._now()
        inc.updates.append(Update(now, status, message.strip(), author))
        inc.status = status
        inc.resolved_ms = now if status == "resolved" else 0
        self._save()
        self._emit(inc.page, inc, "resolved" if status == "resolved" else "updated")
        return inc

    def sync_alerts(self, pages: Mapping[str, Sequence[str]], alerts: Iterable[Mapping[str, Any]]) -> None:
        """Open an incident per firing alert a page names; resolve it when the alert resolves.

        ``pages`` maps a page slug to its ``incident_alerts`` matcher strings; ``alerts`` are
        Alertmanager API v2 alerts (``labels``, ``annotations``, ``fingerprint``).
        """
        firing: dict[tuple[str, str], Mapping[str, Any]] = {}
        for slug, selectors in pages.items():
            groups = [parse_matchers(s) for s in selectors]
            for a in alerts:
                labels = Labels(a.get("labels", {}))
                if any(matches_all(g, labels) for g in groups):
                    firing[(slug, f"alert:{a.get('fingerprint', '')}")] = a
        open_by_source = {(i.page, i.source): i for i in self.incidents.values() if i.source and i.open}
        for key, a in firing.items():
            if key in open_by_source:
                continue
            labels, ann = a.get("labels", {}), a.get("annotations", {})
            title = ann.get("summary") or ann.get("title") or labels.get("alertname", "Alert")
            message = (ann.get("description") or ann.get("message")
                       or f"Alert {labels.get('alertname', '')} fired.")
            self.open_incident(key[0], str(title), str(message), impact=_impact(labels.get("severity", "")),
                               author="alert", source=key[1],
                               probes=[labels["job"]] if "job" in labels else [])
        for key, inc in open_by_source.items():
            if key not in firing and inc.source.startswith("alert:") and key[0] in pages:
                self.update_incident(inc.id, "resolved", "The alert that opened this incident has resolved.",
                                     author="alert")

    # -- maintenance ----------------------------------------------------------------------------

    def page_maintenance(self, page: str) -> list[Maintenance]:
        return sorted((m for m in self.maintenance.values() if page in m.pages), key=lambda m: m.starts_ms)

    def schedule_maintenance(self, pages: Sequence[str], title: str, description: str, starts_ms: int,
                             ends_ms: int, probes: Sequence[str], matchers: Sequence[str] = (),
                             author: str = "") -> Maintenance:
        if not title.strip():
            raise StatusError("a maintenance window needs a title")
        if ends_ms <= starts_ms:
            raise StatusError("a maintenance window must end after it starts")
        if ends_ms <= self._now():
            raise StatusError("a maintenance window must end in the future")
        if not probes:
            raise StatusError("a maintenance window needs the probes it covers")
        extra: list[Matcher] = []
        for text in matchers:
            try:
                extra += parse_matchers(text)
            except ValueError as e:
                raise StatusError(f"matcher {text!r}: {e}") from None
        m = Maintenance(secrets.token_hex(6), list(pages), title.strip(), description.strip(), starts_ms,
                        ends_ms, list(probes), list(matchers))
        if self.silences is not None:
            job = Matcher("job", MatchType.REGEX, "|".join(_re_escape(p) for p in probes))
            m.silence_id = self.silences.set(
                matchers=[job, *extra], starts_at=starts_ms, ends_at=ends_ms,
                created_by=author or "status page",
                comment=f"maintenance: {m.title} (status page {', '.join(pages)})")
        self.maintenance[m.id] = m
        self._save()
        for page in pages:
            self._emit(page, m, "scheduled")
        return m

    def cancel_maintenance(self, mid: str) -> Maintenance:
        m = self.maintenance.get(mid)
        if m is None:
            raise StatusError(f"no maintenance {mid}")
        now = self._now()
        if m.silence_id and self.silences is not None:
            with contextlib.suppress(KeyError, ValueError):  # already expired: nothing left to mute
                self.silences.expire(m.silence_id)
        m.cancelled = True
        m.ends_ms = min(m.ends_ms, max(now, m.starts_ms))
        self._save()
        for page in m.pages:
            self._emit(page, m, "cancelled")
        return m

    def windows(self, probe: str) -> list[tuple[int, int]]:
        """(start, end) in ms of the maintenance covering ``probe``, for uptime to skip."""
        return sorted((m.starts_ms, m.ends_ms) for m in self.maintenance.values()
                      if probe in m.probes and m.ends_ms > m.starts_ms)

    def in_maintenance(self, probe: str, now_ms: int | None = None) -> Maintenance | None:
        t = self._now() if now_ms is None else now_ms
        for m in self.maintenance.values():
            if probe in m.probes and m.active(t):
                return m
        return None

    # -- subscribers --------------------------------------------------------------------------

    def subscribe(self, page: str, kind: str, address: str) -> Subscriber:
        """Adds a subscriber (or returns the one already there).  An email address waits for its
        confirmation: the listeners send the link, again on each repeated request."""
        _check_choice("kind", kind, ("email", "webhook"))
        address = address.strip()
        if kind == "email" and ("@" not in address or " " in address or len(address) > 254):
            raise StatusError(f"{address!r} is not an email address")
        if kind == "webhook" and not address.startswith(("http://", "https://")):
            raise StatusError(f"{address!r} is not an http(s) URL")
        now = self._now()
        self.subscribers = [s for s in self.subscribers
                            if s.confirmed or now - s.created_ms < PENDING_FOR_MS]
        key = (page, kind, address)
        sub = next((s for s in self.subscribers if (s.page, s.kind, s.address) == key), None)
        if sub is None:
            sub = Subscriber(page, kind, address, now, secrets.token_urlsafe(24), confirmed=kind != "email")
            self.subscribers.append(sub)
            self._save()
        if not sub.confirmed:
            for listener in self.confirmation_listeners:
                try:
                    listener(sub)
                except Exception:
                    log.exception("event=confirmation_listener_failed page=%s", page)
        return sub

    def by_token(self, page: str, token: str) -> Subscriber | None:
        return next((s for s in self.subscribers
                     if s.page == page and secrets.compare_digest(s.token, token)), None)

    def confirm(self, page: str, token: str) -> Subscriber | None:
        """The owner followed the link: deliveries start.  None for an unknown or expired link."""
        sub = self.by_token(page, token)
        if sub is None or (not sub.confirmed and self._now() - sub.created_ms >= PENDING_FOR_MS):
            return None
        if not sub.confirmed:
            sub.confirmed = True
            self._save()
        return sub

    def unsubscribe(self, page: str, token: str) -> Subscriber | None:
        sub = self.by_token(page, token)
        if sub is not None:
            self.subscribers.remove(sub)
            self._save()
        return sub

    def page_subscribers(self, page: str) -> list[Subscriber]:
        """The confirmed subscribers: who hears about incidents and maintenance."""
        return [s for s in self.subscribers if s.page == page and s.confirmed]


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise StatusError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _impact(severity: str) -> str:
    return {"critical": "critical", "page": "critical", "error": "major", "warning": "minor",
            "info": "minor"}.get(severity.lower(), "major")


def _re_escape(text: str) -> str:
    import re

    return re.escape(text)


async def alert_sync_loop(store: StatusStore, pages: Callable[[], Mapping[str, Sequence[str]]],
                          alerts: Callable[[], Awaitable[Iterable[Mapping[str, Any]] | None]], stop: Any,
                          every_s: float = 5.0) -> None:
    """Keep alert-opened incidents in step with the alerts (``stop``: an ``asyncio.Event``).
    ``alerts`` answering None (the Alertmanager could not be asked) leaves incidents as they are."""
    import asyncio

    while not stop.is_set():
        try:
            wanted = {slug: sel for slug, sel in pages().items() if sel}
            if wanted:
                current = await alerts()
                if current is not None:
                    store.sync_alerts(wanted, list(current))
        except Exception:
            log.exception("event=status_alert_sync_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
