"""rocketchat_configs: Rocket.Chat's chat.postMessage REST API."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret
from guardia.config.validate import StrictModel

DEFAULT_API_URL = "https://open.rocket.chat/"


class RocketchatField(StrictModel):
    title: str = ""
    value: str = ""
    short: bool | None = None


class RocketchatAction(StrictModel):
    type: str = "button"
    text: str = ""
    url: str = ""
    msg: str = ""


class RocketchatConfig(NotifierConfig):
    api_url: str | None = None
    channel: str = ""
    token: Secret | None = None
    token_file: str | None = None
    token_id: Secret | None = None
    token_id_file: str | None = None
    color: str = '{{ if eq .Status "firing" }}red{{ else }}green{{ end }}'
    emoji: str = '{{ if eq .Status "firing" }}:exclamation:{{ else }}:white_check_mark:{{ end }}'
    icon_url: str = ""
    text: str = '{{ template "rocketchat.default.text" . }}'
    title: str = '{{ template "rocketchat.default.title" . }}'
    title_link: str = '{{ template "rocketchat.default.titlelink" . }}'
    fields: list[RocketchatField] = Field(default_factory=list)
    short_fields: bool = False
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    actions: list[RocketchatAction] = Field(default_factory=list)


def resolve(c: RocketchatConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> RocketchatConfig:
    g = checks.global_
    token, token_file = c.token or g.rocketchat_token, c.token_file or g.rocketchat_token_file
    tid, tid_file = c.token_id or g.rocketchat_token_id, c.token_id_file or g.rocketchat_token_id_file
    if token is None and not token_file:
        checks.err(p, "one of token or token_file must be configured (or global rocketchat_token)")
    if tid is None and not tid_file:
        checks.err(p, "one of token_id or token_id_file must be configured (or global rocketchat_token_id)")
    tok = checks.secret((*p, "token"), token, token_file, "Rocket.Chat token", name)
    tok_id = checks.secret((*p, "token_id"), tid, tid_file, "Rocket.Chat token id", name)
    return c.model_copy(update={"token": tok, "token_file": None, "token_id": tok_id, "token_id_file": None,
                                "api_url": c.api_url or g.rocketchat_api_url or DEFAULT_API_URL,
                                "http_config": checks.http_config(c)})
