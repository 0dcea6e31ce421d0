"""victorops_configs: Splunk On-Call (VictorOps) REST endpoint integration."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks, secret_or_file
from guardia.config.schema import Field
from guardia.config.secrets import Secret

DEFAULT_API_URL = "https://alert.victorops.com/integrations/generic/20131114/alert/"
RESERVED_FIELDS = ("routing_key", "message_type", "state_message", "entity_display_name", "monitoring_tool",
                   "entity_id", "entity_state")


class VictorOpsConfig(NotifierConfig):
    api_key: Secret | None = None
    api_key_file: str | None = None
    api_url: str | None = None
    routing_key: str = ""
    message_type: str = "CRITICAL"
    state_message: str = '{{ template "victorops.default.state_message" . }}'
    entity_display_name: str = '{{ template "victorops.default.entity_display_name" . }}'
    monitoring_tool: str = '{{ template "victorops.default.monitoring_tool" . }}'
    custom_fields: dict[str, str] = Field(default_factory=dict)


def resolve(c: VictorOpsConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> VictorOpsConfig:
    g = checks.global_
    if not c.routing_key:
        checks.err((*p, "routing_key"), "missing Routing key in VictorOps config")
    for k in c.custom_fields:
        if k in RESERVED_FIELDS:
            checks.err((*p, "custom_fields", k), f"victorOps config contains custom field {k} which "
                       "cannot be used as it conflicts with the fixed/static fields")
    secret = secret_or_file(checks, p, "api_key", c.api_key, c.api_key_file, "VictorOps API key", name,
                            default=g.victorops_api_key, default_file=g.victorops_api_key_file,
                            hint=" (or global victorops_api_key)")
    url = c.api_url or g.victorops_api_url or DEFAULT_API_URL
    return c.model_copy(update={"api_key": secret, "api_key_file": None,
                                "api_url": url if url.endswith("/") else url + "/",
                                "http_config": checks.http_config(c)})
