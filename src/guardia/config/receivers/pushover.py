"""pushover_configs: Pushover's messages API."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.fields import Duration
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks, secret_or_file
from guardia.config.secrets import Secret

DEFAULT_API_URL = "https://api.pushover.net/1/messages.json"


class PushoverConfig(NotifierConfig):
    user_key: Secret | None = None
    user_key_file: str | None = None
    token: Secret | None = None
    token_file: str | None = None
    title: str = '{{ template "pushover.default.title" . }}'
    message: str = '{{ template "pushover.default.message" . }}'
    url: str = '{{ template "pushover.default.url" . }}'
    url_title: str = ""
    device: str = ""
    sound: str = ""
    priority: str = '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}'
    retry: Duration = 60_000
    expire: Duration = 3_600_000
    ttl: Duration = 0
    html: bool = False
    monospace: bool = False
    api_url: str = DEFAULT_API_URL  # guardia's own: where the messages go (a local relay, tests)


def resolve(c: PushoverConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> PushoverConfig:
    if c.html and c.monospace:
        checks.err(p, "html and monospace options are mutually exclusive")
    user = secret_or_file(checks, p, "user_key", c.user_key, c.user_key_file, "Pushover user key", name)
    token = secret_or_file(checks, p, "token", c.token, c.token_file, "Pushover token", name)
    return c.model_copy(update={"user_key": user, "user_key_file": None, "token": token, "token_file": None,
                                "http_config": checks.http_config(c)})
