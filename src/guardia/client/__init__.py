"""Push alerts from an application to guardia (or any Alertmanager, API v2).

::

    import guardia.client

    guardia.client.fire("PaymentsBacklog", severity="critical", summary="3,000 payments queued",
                        labels={"service": "payments"})
    guardia.client.resolve("PaymentsBacklog", labels={"service": "payments"})

    await guardia.client.afire(...)      # the same, for async code

``GUARDIA_URL`` (default ``http://127.0.0.1:9090``) says where guardia is; alerts that cannot
be delivered after the retries are spooled under ``GUARDIA_SPOOL_DIR`` and sent first next
time (``guardia.client.flush()`` sends them on demand).  ``fire`` raises ``Unreachable`` after
spooling unless ``raise_errors=False``.  This package imports only httpx and the standard
library, so an app can use it without the server's dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping

from guardia.client.alerts import build_alert
from guardia.client.sender import AlertRejected, Sender, Unreachable
from guardia.client.spool import Spool

__all__ = ["AlertRejected", "Sender", "Spool", "Unreachable", "afire", "aresolve", "fire", "flush",
           "resolve"]


Labels = Mapping[str, str]


def _alert(alertname: str, labels: Labels | None, annotations: Labels | None, severity: str | None,
           summary: str | None, resolved: bool, generator_url: str) -> list[dict[str, object]]:
    return [build_alert(alertname, labels=labels, annotations=annotations, severity=severity, summary=summary,
                        resolved=resolved, generator_url=generator_url)]


def fire(alertname: str, *, labels: Labels | None = None, annotations: Labels | None = None,
         severity: str | None = None, summary: str | None = None, generator_url: str = "",
         sender: Sender | None = None, raise_errors: bool = True) -> bool:
    """Fire an alert; True when delivered, False when spooled (with ``raise_errors=False``)."""
    return _send(sender, _alert(alertname, labels, annotations, severity, summary, False, generator_url),
                 raise_errors)


def resolve(alertname: str, *, labels: Mapping[str, str] | None = None, severity: str | None = None,
            sender: Sender | None = None, raise_errors: bool = True) -> bool:
    """Resolve an alert fired with the same name and labels."""
    return _send(sender, _alert(alertname, labels, None, severity, None, True, ""), raise_errors)


def _send(sender: Sender | None, alerts: list[dict[str, object]], raise_errors: bool) -> bool:
    try:
        (sender or Sender()).send(alerts)
    except Unreachable:
        if raise_errors:
            raise
        return False
    return True


async def afire(alertname: str, *, labels: Mapping[str, str] | None = None,
                annotations: Mapping[str, str] | None = None, severity: str | None = None,
                summary: str | None = None, generator_url: str = "", sender: Sender | None = None,
                raise_errors: bool = True) -> bool:
    alerts = _alert(alertname, labels, annotations, severity, summary, False, generator_url)
    return await _asend(sender, alerts, raise_errors)


async def aresolve(alertname: str, *, labels: Mapping[str, str] | None = None, severity: str | None = None,
                   sender: Sender | None = None, raise_errors: bool = True) -> bool:
    return await _asend(sender, _alert(alertname, labels, None, severity, None, True, ""), raise_errors)


async def _asend(sender: Sender | None, alerts: list[dict[str, object]], raise_errors: bool) -> bool:
    try:
        await (sender or Sender()).asend(alerts)
    except Unreachable:
        if raise_errors:
            raise
        return False
    return True


def flush(sender: Sender | None = None) -> int:
    """Send the spooled alerts now; returns how many batches are still spooled."""
    return (sender or Sender()).flush()
