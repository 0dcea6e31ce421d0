"""telegram_configs: the Bot API's sendMessage, ``global.telegram_api_url`` as default."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.secrets import Secret


class TelegramConfig(NotifierConfig):
    api_url: str | None = None
    bot_token: Secret | None = None
    bot_token_file: str | None = None
    chat_id: int | None = None
    message_thread_id: int | None = None
    message: str | None = None
    disable_notifications: bool = False
    parse_mode: str = "HTML"


def resolve(t: TelegramConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> TelegramConfig:
    if t.bot_token is None and not t.bot_token_file:
        checks.err(p, "missing bot_token or bot_token_file on telegram_config")
    if not t.chat_id:
        checks.err(p, "missing chat_id on telegram_config")
    if t.parse_mode not in ("", "Markdown", "MarkdownV2", "HTML"):
        checks.err((*p, "parse_mode"), "unknown parse_mode on telegram_config, must be Markdown, "
                                       "MarkdownV2, HTML or empty string")
    tok = checks.secret((*p, "bot_token"), t.bot_token, t.bot_token_file, "Telegram bot token", name)
    return t.model_copy(update={
        "bot_token": tok, "bot_token_file": None, "api_url": t.api_url or checks.global_.telegram_api_url,
        "http_config": checks.http_config(t),
    })
