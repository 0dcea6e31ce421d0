"""discord_configs: a Discord channel webhook."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks, secret_or_file
from guardia.config.secrets import Secret


class DiscordConfig(NotifierConfig):
    webhook_url: Secret | None = None
    webhook_url_file: str | None = None
    title: str = '{{ template "discord.default.title" . }}'
    message: str = '{{ template "discord.default.message" . }}'
    content: str = ""
    username: str = ""
    avatar_url: str = ""


def resolve(c: DiscordConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> DiscordConfig:
    url = secret_or_file(checks, p, "webhook_url", c.webhook_url, c.webhook_url_file, "Discord webhook URL",
                         name)
    return c.model_copy(update={"webhook_url": url, "webhook_url_file": None,
                                "http_config": checks.http_config(c)})
