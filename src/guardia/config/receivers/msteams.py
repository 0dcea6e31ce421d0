"""msteams_configs: a Microsoft Teams incoming webhook."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.secrets import Secret


class MSTeamsConfig(NotifierConfig):
    webhook_url: Secret | None = None
    webhook_url_file: str | None = None
    title: str | None = None
    summary: str | None = None
    text: str | None = None


def resolve(m: MSTeamsConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> MSTeamsConfig:
    if m.webhook_url is None and not m.webhook_url_file:
        checks.err(p, "one of webhook_url or webhook_url_file must be configured")
    url = checks.secret((*p, "webhook_url"), m.webhook_url, m.webhook_url_file, "Teams webhook URL", name)
    return m.model_copy(update={"webhook_url": url, "webhook_url_file": None,
                                "http_config": checks.http_config(m)})
