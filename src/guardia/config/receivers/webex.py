"""webex_configs: a Webex room message (the bot token in http_config.authorization)."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks

DEFAULT_API_URL = "https://webexapis.com/v1/messages"


class WebexConfig(NotifierConfig):
    api_url: str | None = None
    room_id: str = ""
    message: str = '{{ template "webex.default.message" . }}'


def resolve(c: WebexConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> WebexConfig:
    if not c.room_id:
        checks.err((*p, "room_id"), "missing room_id on webex_config")
    http = checks.http_config(c)
    if http is None or http.authorization is None:
        checks.err((*p, "http_config"), "missing webex_configs.http_config.authorization")
    return c.model_copy(update={"api_url": c.api_url or checks.global_.webex_api_url or DEFAULT_API_URL,
                                "http_config": http})
