"""Sending a written report's summary through the Alertmanager config's receivers.

The report travels as one notification of a ``GuardiaOpsReport`` alert whose annotations hold
the summary, the failed checks and the link to the full report, so every integration (e-mail,
Slack, webhook, Teams, Telegram, PagerDuty) and every template a team already has renders it
without a report-specific integration.  Each integration's outcome is returned, never raised:
a failed delivery is recorded with the report and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardia.alerting.receivers import build_notifier
from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.model.alert import Alert
from guardia.model.labels import Labels

log = logging.getLogger("guardia.reports")

ALERTNAME = "GuardiaOpsReport"
SEND_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """What is sent: the schedule's name, a one-line summary, the details and the link."""

    name: str
    summary: str
    description: str
    url: str
    severity: str = "info"


@dataclass(frozen=True, slots=True)
class Outcome:
    receiver: str
    integration: str
    ok: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "integration": self.integration, "ok": self.ok,
                "error": self.error}


def report_alert(d: Delivery, now_ns: int) -> Alert:
    return Alert(
        labels=Labels({"alertname": ALERTNAME, "report": d.name, "severity": d.severity}),
        annotations=Labels({"summary": d.summary, "description": d.description, "report_url": d.url}),
        starts_at=now_ns, ends_at=0, updated_at=now_ns, generator_url=d.url,
    )


async def deliver(am: AlertmanagerConfig | None, receivers: Sequence[str], d: Delivery,
                  external_url: str = "") -> list[Outcome]:
    if am is None:
        return [Outcome(r, "", False, "no alertmanager section in the config: nothing to send through")
                for r in receivers]
    now = time.time_ns()
    alert = report_alert(d, now)
    out: list[Outcome] = []
    for name in receivers:
        receiver = am.receiver(name)
        if receiver is None:
            known = ", ".join(r.name for r in am.receivers) or "none"
            out.append(Outcome(name, "", False, f"no receiver named {name!r} (known: {known})"))
            continue
        ctx = NotifyContext(group_key=f'{{}}:{{alertname="{ALERTNAME}",report="{d.name}"}}', receiver=name,
                            group_labels=Labels({"alertname": ALERTNAME, "report": d.name}), now=now,
                            external_url=external_url or d.url)
        for kind, i, cfg in receiver.integrations():
            label = f"{kind}[{i}]"
            try:
                await asyncio.wait_for(build_notifier(kind, cfg, am).send(ctx, [alert]), SEND_TIMEOUT_S)
            except NotifyError as e:
                out.append(Outcome(name, label, False, str(e)))
            except TimeoutError:
                out.append(Outcome(name, label, False, f"no answer within {SEND_TIMEOUT_S:.0f}s"))
            else:
                out.append(Outcome(name, label, True))
    for o in out:
        if not o.ok:
            log.warning("event=report_delivery_failed report=%s receiver=%s integration=%s error=%r",
                        d.name, o.receiver, o.integration, o.error)
    return out
