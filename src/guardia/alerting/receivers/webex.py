"""Webex: a Markdown message to a room (``roomId``); the bot token is the ``http_config``
authorization, as Alertmanager requires."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.webex import WebexConfig

MAX_MESSAGE_BYTES = 7439


class Webex:
    def __init__(self, cfg: WebexConfig, templater: Templater) -> None:
        self.cfg, self.t = cfg, templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        data = template_data(ctx, alerts)
        text = self.t.expand(self.cfg.message, data).encode()[:MAX_MESSAGE_BYTES].decode("utf-8", "ignore")
        body: dict[str, Any] = {"markdown": text}
        room = self.t.expand(self.cfg.room_id, data)
        if room:
            body["roomId"] = room
        return body

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        async with client_for(self.cfg.http_config) as client:
            await post(client, str(self.cfg.api_url), json=self.payload(ctx, alerts))


notifier = templated_notifier(Webex, WebexConfig)
