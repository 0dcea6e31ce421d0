"""msteamsv2_configs: Microsoft Teams through a Power Automate workflow (an Adaptive Card)."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks, secret_or_file
from guardia.config.secrets import Secret


class MSTeamsV2Config(NotifierConfig):
    webhook_url: Secret | None = None
    webhook_url_file: str | None = None
    title: str = '{{ template "msteamsv2.default.title" . }}'
    text: str = '{{ template "msteamsv2.default.text" . }}'


def resolve(c: MSTeamsV2Config, p: FieldPath, name: str, checks: ReceiverChecks) -> MSTeamsV2Config:
    url = secret_or_file(checks, p, "webhook_url", c.webhook_url, c.webhook_url_file, "Teams workflow URL",
                         name)
    return c.model_copy(update={"webhook_url": url, "webhook_url_file": None,
                                "http_config": checks.http_config(c)})
