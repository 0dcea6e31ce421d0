"""What every integration shares: the error that carries the retry decision, the notifier
protocol, and the template data Alertmanager gives its templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from guardia.alerting.types import Alert, common_labels, fingerprint_hex, format_time
from guardia.model.labels import Labels

_GO_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote_meta(s: str) -> str:
    """Go's ``regexp.QuoteMeta``: Alertmanager passes the receiver name through it before
    templates and payloads see it."""
    return _GO_META.sub(r"\\\1", s)


class NotifyError(Exception):
    """A failed delivery; ``retryable`` says whether trying again can help (5xx yes, 4xx no)."""

    def __init__(self, message: str, *, retryable: bool, reason: str = "other") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason


@dataclass
class NotifyContext:
    """What the pipeline knows about one flush of one aggregation group."""

    group_key: str
    receiver: str
    group_labels: Labels
    now: int
    repeat_interval_ns: int = 4 * 3600 * 10**9
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    deadline: float = float("inf")
    external_url: str = ""
    firing: set[int] = field(default_factory=set)
    resolved: set[int] = field(default_factory=set)
    # the retry queue's id of this notification: the same on every retry and after a restart,
    # sent as ``Idempotency-Key`` by the webhook so a receiver can drop a duplicate
    notification_id: str = ""


class Notifier(Protocol):
    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        """Deliver, or raise ``NotifyError``."""


def alert_to_dict(a: Alert, now: int) -> dict[str, Any]:
    """One alert as the webhook payload and the templates see it."""
    return {
        "status": a.status(now),
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": format_time(a.starts_at),
        "endsAt": format_time(a.ends_at),
        "generatorURL": a.generator_url,
        "fingerprint": fingerprint_hex(a.fingerprint),
    }


def group_status(alerts: list[Alert], now: int) -> str:
    return "firing" if any(not a.resolved_at(now) for a in alerts) else "resolved"


def payload_common(ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
    return {
        "receiver": quote_meta(ctx.receiver),
        "status": group_status(alerts, ctx.now),
        "groupLabels": dict(ctx.group_labels),
        "commonLabels": common_labels(alerts),
        "commonAnnotations": common_labels(alerts, "annotations"),
        "externalURL": ctx.external_url,
    }
