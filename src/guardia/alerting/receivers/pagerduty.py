"""PagerDuty: Events API v2 (``routing_key``) or v1 (``service_key``).

The dedup key is the SHA-256 of the group key, so one incident follows one alert group and
a resolved group resolves it, as Alertmanager does.
"""

from __future__ import annotations

import hashlib
from typing import Any

from guardia.alerting.receivers.base import NotifyContext, group_status
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.pagerduty import PagerdutyConfig

V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
DEFAULT_DETAILS = {
    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
}
MAX_SUMMARY_RUNES = 1024


def dedup_key(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


class PagerDuty:
    def __init__(self, cfg: PagerdutyConfig, templater: Templater) -> None:
        self.cfg = cfg
        self.t = templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[str, dict[str, Any]]:
        data = template_data(ctx, alerts)
        c = self.cfg

        def x(value: str | None, default: str) -> str:
            return self.t.expand(value if value is not None else default, data)

        resolved = group_status(alerts, ctx.now) == "resolved"
        description = x(c.description, '{{ template "pagerduty.default.description" . }}')
        client = x(c.client, '{{ template "pagerduty.default.client" . }}')
        client_url = x(c.client_url, '{{ template "pagerduty.default.clientURL" . }}')
        details = {k: self.t.expand(v, data) for k, v in (c.details or DEFAULT_DETAILS).items()}
        if c.routing_key is None and c.service_key is not None:
            return V1_URL if c.url in (None, "https://events.pagerduty.com/v2/enqueue") else str(c.url), {
                "service_key": c.service_key.reveal(),
                "event_type": "resolve" if resolved else "trigger",
                "incident_key": dedup_key(ctx.group_key),
                "description": description[:MAX_SUMMARY_RUNES],
                "details": details, "client": client, "client_url": client_url,
            }
        assert c.routing_key is not None
        body: dict[str, Any] = {
            "routing_key": c.routing_key.reveal(),
            "dedup_key": dedup_key(ctx.group_key),
            "event_action": "resolve" if resolved else "trigger",
            "client": client,
            "client_url": client_url,
            "payload": {
                "summary": description[:MAX_SUMMARY_RUNES],
                "source": x(c.source, client) or client,
                "severity": x(c.severity, "error") or "error",
                "custom_details": details,
            },
        }
        for key, val in (("component", c.component), ("group", c.group), ("class", c.class_)):
            if val:
                body["payload"][key] = self.t.expand(val, data)
        if c.images:
            body["images"] = c.images
        if c.links:
            body["links"] = c.links
        return str(c.url), body

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        url, body = self.payload(ctx, alerts)
        async with client_for(self.cfg.http_config) as client:
            await post(client, url, json=body)


notifier = templated_notifier(PagerDuty, PagerdutyConfig)
"""The pagerduty notifier for one validated ``pagerduty_configs`` entry (see ``build_notifier``)."""
