"""pagerduty_configs: Events API v2 (routing_key) or v1 (service_key)."""

from __future__ import annotations

from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret


class PagerdutyConfig(NotifierConfig):
    routing_key: Secret | None = None
    routing_key_file: str | None = None
    service_key: Secret | None = None
    service_key_file: str | None = None
    url: str | None = None
    client: str | None = None
    client_url: str | None = None
    description: str | None = None
    details: dict[str, str] | None = None
    images: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)
    source: str | None = None
    severity: str | None = None
    class_: str | None = Field(default=None, alias="class")
    component: str | None = None
    group: str | None = None


def resolve(pd: PagerdutyConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> PagerdutyConfig:
    rk = sk = None
    if pd.routing_key is None and not pd.routing_key_file and pd.service_key is None \
            and not pd.service_key_file:
        checks.err(p, "missing service or routing key in PagerDuty config")
    if pd.routing_key is not None or pd.routing_key_file:
        rk = checks.secret((*p, "routing_key"), pd.routing_key, pd.routing_key_file,
                           "PagerDuty routing key", name)
    if pd.service_key is not None or pd.service_key_file:
        sk = checks.secret((*p, "service_key"), pd.service_key, pd.service_key_file,
                           "PagerDuty service key", name)
    return pd.model_copy(update={
        "routing_key": rk, "service_key": sk, "routing_key_file": None, "service_key_file": None,
        "url": pd.url or checks.global_.pagerduty_url, "http_config": checks.http_config(pd),
    })
