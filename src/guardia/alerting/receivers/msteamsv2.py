"""Microsoft Teams through a Power Automate workflow: a ``message`` with one Adaptive Card
(a heading coloured Attention while firing, Good when resolved, and the text)."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, group_status
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.msteamsv2 import MSTeamsV2Config


class MSTeamsV2:
    def __init__(self, cfg: MSTeamsV2Config, templater: Templater) -> None:
        assert cfg.webhook_url is not None
        self.cfg, self.t = cfg, templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        data = template_data(ctx, alerts)
        color = "Attention" if group_status(alerts, ctx.now) == "firing" else "Good"
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": [
                {"type": "TextBlock", "text": self.t.expand(self.cfg.title, data), "weight": "Bolder",
                 "size": "Medium", "wrap": True, "style": "heading", "color": color},
                {"type": "TextBlock", "text": self.t.expand(self.cfg.text, data), "wrap": True},
            ],
            "msteams": {"width": "full"},
        }
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        assert self.cfg.webhook_url is not None
        async with client_for(self.cfg.http_config) as client:
            await post(client, self.cfg.webhook_url.reveal(), json=self.payload(ctx, alerts))


notifier = templated_notifier(MSTeamsV2, MSTeamsV2Config)
