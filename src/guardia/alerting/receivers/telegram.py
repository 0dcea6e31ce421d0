"""Telegram Bot API ``sendMessage`` with Alertmanager's default message (HTML parse mode)."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.telegram import TelegramConfig

MAX_MESSAGE_RUNES = 4096


class Telegram:
    def __init__(self, cfg: TelegramConfig, templater: Templater) -> None:
        assert cfg.bot_token is not None
        self.cfg = cfg
        self.t = templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        data = template_data(ctx, alerts)
        c = self.cfg
        text = self.t.expand(c.message or '{{ template "telegram.default.message" . }}', data)
        body: dict[str, Any] = {"chat_id": c.chat_id, "text": text[:MAX_MESSAGE_RUNES]}
        if c.parse_mode:
            body["parse_mode"] = c.parse_mode
        if c.disable_notifications:
            body["disable_notification"] = True
        if c.message_thread_id:
            body["message_thread_id"] = c.message_thread_id
        return body

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        assert self.cfg.bot_token is not None
        url = f"{str(self.cfg.api_url).rstrip('/')}/bot{self.cfg.bot_token.reveal()}/sendMessage"
        async with client_for(self.cfg.http_config) as client:
            try:
                resp = await post(client, url, json=self.payload(ctx, alerts))
            except NotifyError as e:
                # never let the bot token (part of the URL path) reach a log line
                raise NotifyError(str(e).replace(self.cfg.bot_token.reveal(), "<secret>"),
                                  retryable=e.retryable, reason=e.reason) from None
        data = resp.json() if resp.content else {}
        if isinstance(data, dict) and data.get("ok") is False:
            raise NotifyError(f"telegram error: {data.get('description', 'unknown')}", retryable=False,
                              reason="clientError")


notifier = templated_notifier(Telegram, TelegramConfig)
"""The telegram notifier for one validated ``telegram_configs`` entry (see ``build_notifier``)."""
