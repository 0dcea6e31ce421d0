"""Microsoft Teams incoming webhook: a MessageCard with title, summary, text and a red or
green theme colour, as Alertmanager's msteams integration sends."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, group_status
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.msteams import MSTeamsConfig

FIRING_COLOR = "8C1A1A"
RESOLVED_COLOR = "2DC72D"


class MSTeams:
    def __init__(self, cfg: MSTeamsConfig, templater: Templater) -> None:
        assert cfg.webhook_url is not None
        self.cfg = cfg
        self.url = cfg.webhook_url.reveal()
        self.t = templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        data = template_data(ctx, alerts)
        c = self.cfg
        firing = group_status(alerts, ctx.now) == "firing"
        return {
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": self.t.expand(c.title or '{{ template "msteams.default.title" . }}', data),
            "summary": self.t.expand(c.summary or '{{ template "msteams.default.summary" . }}', data),
            "text": self.t.expand(c.text or '{{ template "msteams.default.text" . }}', data),
            "themeColor": FIRING_COLOR if firing else RESOLVED_COLOR,
        }

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        async with client_for(self.cfg.http_config) as client:
            await post(client, self.url, json=self.payload(ctx, alerts))


notifier = templated_notifier(MSTeams, MSTeamsConfig)
"""The msteams notifier for one validated ``msteams_configs`` entry (see ``build_notifier``)."""
