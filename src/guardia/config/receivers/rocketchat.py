"""rocketchat_configs: Rocket.Chat's chat.postMessage REST API."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks, secret_or_file
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
    tok = secret_or_file(checks, p, "token", c.token, c.token_file, "Rocket.Chat token", name,
                         default=g.rocketchat_token, default_file=g.rocketchat_token_file,
                         hint=" (or global rocketchat_token)")
    tok_id = secret_or_file(checks, p, "token_id", c.token_id, c.token_id_file, "Rocket.Chat token id", name,
                            default=g.rocketchat_token_id, default_file=g.rocketchat_token_id_file,
                            hint=" (or global rocketchat_token_id)")
    return c.model_copy(update={"token": tok, "token_file": None, "token_id": tok_id, "token_id_file": None,
                                "api_url": c.api_url or g.rocketchat_api_url or DEFAULT_API_URL,
                                "http_config": checks.http_config(c)})
