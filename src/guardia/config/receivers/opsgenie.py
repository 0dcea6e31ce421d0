"""opsgenie_configs: Opsgenie's Alert API v2 (create; close when resolved; update on request)."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks, secret_or_file
from guardia.config.schema import Field
from guardia.config.secrets import Secret
from guardia.config.validate import StrictModel

DEFAULT_API_URL = "https://api.opsgenie.com/"


class OpsgenieResponder(StrictModel):
    id: str = ""
    name: str = ""
    username: str = ""
    type: str = ""


class OpsgenieConfig(NotifierConfig):
    api_key: Secret | None = None
    api_key_file: str | None = None
    api_url: str | None = None
    message: str = '{{ template "opsgenie.default.message" . }}'
    description: str = '{{ template "opsgenie.default.description" . }}'
    source: str = '{{ template "opsgenie.default.source" . }}'
    details: dict[str, str] = Field(default_factory=dict)
    entity: str = ""
    responders: list[OpsgenieResponder] = Field(default_factory=list)
    visible_to: list[OpsgenieResponder] = Field(default_factory=list)
    actions: str = ""
    tags: str = ""
    note: str = ""
    priority: str = ""
    update_alerts: bool = False


def resolve(c: OpsgenieConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> OpsgenieConfig:
    g = checks.global_
    for i, r in enumerate(c.responders):
        if not (r.id or r.name or r.username):
            checks.err((*p, "responders", i),
                       "opsGenieConfig responder must have at least an id, a name or a username")
        if r.type.lower() not in ("team", "teams", "user", "escalation", "schedule") and "{{" not in r.type:
            checks.err((*p, "responders", i, "type"),
                       f"opsGenieConfig responder {r.type!r} type does not match valid options "
                       "team, teams, user, escalation, schedule")
    secret = secret_or_file(checks, p, "api_key", c.api_key, c.api_key_file, "Opsgenie API key", name,
                            default=g.opsgenie_api_key, default_file=g.opsgenie_api_key_file,
                            hint=" (or global opsgenie_api_key)")
    url = c.api_url or g.opsgenie_api_url or DEFAULT_API_URL
    return c.model_copy(update={"api_key": secret, "api_key_file": None,
                                "api_url": url if url.endswith("/") else url + "/",
                                "http_config": checks.http_config(c)})
