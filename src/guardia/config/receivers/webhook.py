"""webhook_configs: Alertmanager's generic JSON webhook."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.fields import Duration
from guardia.config.placeholders import placeholder_reason
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret


class WebhookConfig(NotifierConfig):
    url: Secret | None = None
    url_file: str | None = None
    max_alerts: int = Field(default=0, ge=0)
    timeout: Duration = 0


def resolve(w: WebhookConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> WebhookConfig:
    if w.url is None and not w.url_file:
        checks.err(p, "one of url or url_file must be configured")
    if w.url is not None and w.url_file:
        checks.err(p, "at most one of url & url_file must be configured")
    url = checks.secret((*p, "url"), w.url, w.url_file, "webhook url", name)
    if url is not None and not url.reveal().startswith(("http://", "https://")) \
            and not placeholder_reason(url.reveal()):
        checks.err((*p, "url"),
                   f'unsupported scheme in webhook url for receiver "{name}" (use http or https)')
    return w.model_copy(update={"url": url, "url_file": None, "http_config": checks.http_config(w)})
