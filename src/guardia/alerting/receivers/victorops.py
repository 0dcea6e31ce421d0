"""Splunk On-Call (VictorOps): one JSON event to ``{api_url}{api_key}/{routing_key}``; the entity
id is the SHA-256 of the group key; a resolved group sends RECOVERY, a firing one the
configured ``message_type`` (CRITICAL unless INFO/WARNING/CRITICAL is given)."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, group_status
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.receivers.pagerduty import dedup_key
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.victorops import VictorOpsConfig

ALLOWED = ("INFO", "WARNING", "CRITICAL")
MAX_STATE_MESSAGE_RUNES = 20480


class VictorOps:
    def __init__(self, cfg: VictorOpsConfig, templater: Templater) -> None:
        assert cfg.api_key is not None and cfg.api_url is not None
        self.cfg, self.t = cfg, templater

    def request(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[str, dict[str, Any]]:
        c = self.cfg
        assert c.api_key is not None
        data = template_data(ctx, alerts)

        def x(s: str) -> str:
            return self.t.expand(s, data)

        kind = x(c.message_type)
        if group_status(alerts, ctx.now) == "resolved":
            kind = "RECOVERY"
        elif kind not in ALLOWED:
            kind = "CRITICAL"
        body: dict[str, Any] = {
            "message_type": kind,
            "entity_id": dedup_key(ctx.group_key),
            "entity_display_name": x(c.entity_display_name),
            "state_message": x(c.state_message)[:MAX_STATE_MESSAGE_RUNES],
            "monitoring_tool": x(c.monitoring_tool),
        }
        body.update({k: x(v) for k, v in c.custom_fields.items()})
        return f"{c.api_url}{c.api_key.reveal()}/{x(c.routing_key)}", body

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        url, body = self.request(ctx, alerts)
        async with client_for(self.cfg.http_config) as client:
            await post(client, url, json=body)


notifier = templated_notifier(VictorOps, VictorOpsConfig)
