"""Discord: one webhook message with one embed per group (title, description, red while firing,
green when resolved), ``content``, ``username`` and ``avatar_url`` as configured."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, group_status
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.discord import DiscordConfig

COLOR_RED, COLOR_GREEN = 0x992D22, 0x2ECC71
MAX_TITLE, MAX_DESCRIPTION, MAX_CONTENT = 256, 4096, 2000


class Discord:
    def __init__(self, cfg: DiscordConfig, templater: Templater) -> None:
        assert cfg.webhook_url is not None
        self.cfg, self.t = cfg, templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        c = self.cfg
        data = template_data(ctx, alerts)
        firing = group_status(alerts, ctx.now) == "firing"
        # ``content`` is always there, empty unless configured, as Alertmanager sends it
        body: dict[str, Any] = {"content": self.t.expand(c.content, data)[:MAX_CONTENT], "embeds": [{
            "title": self.t.expand(c.title, data)[:MAX_TITLE],
            "description": self.t.expand(c.message, data)[:MAX_DESCRIPTION],
            "color": COLOR_RED if firing else COLOR_GREEN,
        }]}
        if c.username:
            body["username"] = c.username
        if c.avatar_url:
            body["avatar_url"] = c.avatar_url
        return body

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        assert self.cfg.webhook_url is not None
        async with client_for(self.cfg.http_config) as client:
            await post(client, self.cfg.webhook_url.reveal(), json=self.payload(ctx, alerts))


notifier = templated_notifier(Discord, DiscordConfig)
