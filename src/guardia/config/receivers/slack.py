"""slack_configs: an incoming webhook (or chat.postMessage), ``global.slack_api_url`` as default."""

from __future__ import annotations

from typing import Any, ClassVar

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret
from guardia.config.validate import StrictModel


class SlackField(StrictModel):
    title: str
    value: str
    short: bool | None = None


class SlackConfig(NotifierConfig):
    default_send_resolved: ClassVar[bool] = False
    api_url: Secret | None = None
    api_url_file: str | None = None
    channel: str | None = None
    username: str | None = None
    color: str | None = None
    title: str | None = None
    title_link: str | None = None
    pretext: str | None = None
    text: str | None = None
    fields: list[SlackField] = Field(default_factory=list)
    short_fields: bool = False
    footer: str | None = None
    fallback: str | None = None
    callback_id: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    image_url: str | None = None
    thumb_url: str | None = None
    link_names: bool = False
    mrkdwn_in: list[str] | None = None
    actions: list[dict[str, Any]] = Field(default_factory=list)


def resolve(s: SlackConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> SlackConfig:
    g = checks.global_
    if s.api_url is not None or s.api_url_file:
        url = checks.secret((*p, "api_url"), s.api_url, s.api_url_file, "Slack webhook URL", name)
    elif g.slack_api_url is not None or g.slack_api_url_file:
        url = checks.secret(("global", "slack_api_url"), g.slack_api_url, g.slack_api_url_file,
                            "Slack webhook URL", name)
    else:
        checks.err(p, "no global Slack API URL set (set slack_api_url in global or api_url here)")
        url = None
    return s.model_copy(update={"api_url": url, "api_url_file": None, "http_config": checks.http_config(s)})
