"""What every receiver integration's config shares: the base model and the checker's services.

An integration module (``config/receivers/NAME.py``) holds its config model and a
``resolve`` function that runs Alertmanager's checks for one ``NAME_configs`` entry and fills
its settings from ``global``; ``ReceiverChecks`` is what the alertmanager.yml checker lends it
(positioned errors, secrets resolved and checked for placeholders, the global section).
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from guardia.config.errors import Path as FieldPath
from guardia.config.fields import Duration
from guardia.config.httpclient import HTTPClientConfig
from guardia.config.secrets import Secret
from guardia.config.validate import StrictModel

# The HTTP client block is the one Prometheus uses (guardia.config.httpclient): Alertmanager
# embeds the same prometheus/common struct under ``http_config``.
HTTPConfig = HTTPClientConfig


class GlobalConfig(StrictModel):
    """alertmanager.yml's ``global``: mostly the integrations' defaults, so it sits with them."""

    resolve_timeout: Duration = 5 * 60 * 1000
    http_config: HTTPConfig | None = None
    smtp_from: str | None = None
    smtp_hello: str = "localhost"
    smtp_smarthost: str | None = None
    smtp_auth_username: str | None = None
    smtp_auth_password: Secret | None = None
    smtp_auth_password_file: str | None = None
    smtp_auth_secret: Secret | None = None
    smtp_auth_identity: str | None = None
    smtp_require_tls: bool = True
    slack_api_url: Secret | None = None
    slack_api_url_file: str | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    telegram_api_url: str = "https://api.telegram.org"
    opsgenie_api_url: str | None = None
    opsgenie_api_key: Secret | None = None
    opsgenie_api_key_file: str | None = None
    wechat_api_url: str | None = None
    wechat_api_secret: Secret | None = None
    wechat_api_corp_id: str | None = None
    victorops_api_url: str | None = None
    victorops_api_key: Secret | None = None
    victorops_api_key_file: str | None = None
    webex_api_url: str | None = None
    jira_api_url: str | None = None
    rocketchat_api_url: str | None = None
    rocketchat_token: Secret | None = None
    rocketchat_token_file: str | None = None
    rocketchat_token_id: Secret | None = None
    rocketchat_token_id_file: str | None = None


class NotifierConfig(StrictModel):
    send_resolved: bool | None = None
    http_config: HTTPConfig | None = None

    default_send_resolved: ClassVar[bool] = True

    @property
    def resolved(self) -> bool:
        """``send_resolved`` with Alertmanager's per-integration default."""
        return self.default_send_resolved if self.send_resolved is None else self.send_resolved


class ReceiverChecks(Protocol):
    """The alertmanager.yml checker, as an integration's ``resolve`` sees it."""

    @property
    def global_(self) -> GlobalConfig: ...

    def err(self, path: FieldPath, msg: str) -> None:
        """Report an error at ``path`` of the file."""

    def secret(self, path: FieldPath, value: Secret | None, file: str | None, what: str,
               receiver: str) -> Secret | None:
        """The secret (inline with ``${VAR}`` expanded, or read from ``file``), checked for
        placeholders; problems are reported for ``receiver``.  None when it is unknown."""

    def http_config(self, c: NotifierConfig) -> HTTPConfig | None:
        """The integration's ``http_config``, or global's when it sets none."""


def secret_or_file(checks: ReceiverChecks, p: FieldPath, field: str, value: Secret | None,
                   file: str | None, what: str, receiver: str, *, default: Secret | None = None,
                   default_file: str | None = None, hint: str = "") -> Secret | None:
    """Alertmanager's rule for a ``FIELD`` / ``FIELD_file`` pair: the entry gives at most one of
    them, and one of them (or the global ``default``) must be there; the secret is resolved and
    checked for placeholders."""
    if value is not None and file:
        checks.err(p, f"at most one of {field} & {field}_file must be configured")
    value, file = value or (None if file else default), file or (None if value else default_file)
    if value is None and not file:
        checks.err(p, f"one of {field} or {field}_file must be configured{hint}")
    return checks.secret((*p, field), value, file, what, receiver)
