"""sns_configs: Amazon SNS Publish (a topic, a target or a phone number), signed with SigV4."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret
from guardia.config.validate import StrictModel


class SigV4Config(StrictModel):
    region: str = ""
    access_key: str = ""
    secret_key: Secret | None = None
    profile: str = ""
    role_arn: str = ""


class SNSConfig(NotifierConfig):
    api_url: str = ""
    sigv4: SigV4Config = Field(default_factory=SigV4Config)
    topic_arn: str = ""
    phone_number: str = ""
    target_arn: str = ""
    subject: str = '{{ template "sns.default.subject" . }}'
    message: str = '{{ template "sns.default.message" . }}'
    attributes: dict[str, str] = Field(default_factory=dict)


def resolve(c: SNSConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> SNSConfig:
    given = [k for k in ("topic_arn", "phone_number", "target_arn") if getattr(c, k)]
    if len(given) != 1:
        checks.err(p, "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config")
    if not c.sigv4.region:
        checks.err((*p, "sigv4", "region"), "sigv4.region is required (guardia signs requests itself)")
    if not c.sigv4.access_key or c.sigv4.secret_key is None:
        checks.err((*p, "sigv4"), "sigv4.access_key and sigv4.secret_key are required "
                   "(profiles and roles are not read by guardia)")
    secret = checks.secret((*p, "sigv4", "secret_key"), c.sigv4.secret_key, None, "AWS secret key", name)
    sig = c.sigv4.model_copy(update={"secret_key": secret})
    return c.model_copy(update={"sigv4": sig, "http_config": checks.http_config(c)})
