"""email_configs: SMTP, with the smtp_* settings of ``global`` as defaults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from guardia.config.errors import Path as FieldPath
from guardia.config.httpclient import Finding, TLSConfig, check_tls
from guardia.config.placeholders import placeholder_reason
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret


class EmailConfig(NotifierConfig):
    default_send_resolved: ClassVar[bool] = False
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    hello: str | None = None
    smarthost: str | None = None
    auth_username: str | None = None
    auth_password: Secret | None = None
    auth_password_file: str | None = None
    auth_secret: Secret | None = None
    auth_identity: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    html: str | None = None
    text: str | None = None
    require_tls: bool | None = None
    tls_config: TLSConfig | None = None


def client_findings(e: EmailConfig, p: FieldPath) -> Iterator[Finding]:
    """The SMTP connection's ``tls_config`` follows the HTTP client block's TLS rules."""
    if e.tls_config is not None:
        yield from check_tls(e.tls_config, (*p, "tls_config"))


def resolve(e: EmailConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> EmailConfig:
    g = checks.global_
    if not e.to:
        checks.err(p, "missing to address in email config")
    smarthost = e.smarthost or g.smtp_smarthost
    sender = e.from_ or g.smtp_from
    if not smarthost:
        checks.err(p, "no global SMTP smarthost set (set smtp_smarthost in global or smarthost here)")
    elif ":" not in smarthost:
        checks.err((*p, "smarthost"), f"address {smarthost}: missing port in address (use host:587)")
    if not sender:
        checks.err(p, "no global SMTP from set (set smtp_from in global or from here)")
    if e.auth_password is not None or e.auth_password_file:
        pw = checks.secret((*p, "auth_password"), e.auth_password, e.auth_password_file, "SMTP password",
                           name)
    elif g.smtp_auth_password is not None or g.smtp_auth_password_file:
        pw = checks.secret(("global", "smtp_auth_password"), g.smtp_auth_password,
                           g.smtp_auth_password_file, "SMTP password", name)
    else:
        pw = None
    for key, val in (("to", e.to), ("from", sender)):
        if val and placeholder_reason(val) and "@" not in val:
            checks.err((*p, key), f'email {key} {placeholder_reason(val)}; receiver "{name}"')
    return e.model_copy(update={
        "smarthost": smarthost, "from_": sender, "hello": e.hello or g.smtp_hello,
        "auth_username": e.auth_username if e.auth_username is not None else g.smtp_auth_username,
        "auth_password": pw, "auth_password_file": None,
        "auth_secret": e.auth_secret if e.auth_secret is not None else g.smtp_auth_secret,
        "auth_identity": e.auth_identity if e.auth_identity is not None else g.smtp_auth_identity,
        "require_tls": e.require_tls if e.require_tls is not None else g.smtp_require_tls,
    })
