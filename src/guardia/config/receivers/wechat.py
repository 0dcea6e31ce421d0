"""wechat_configs: WeChat Work (WeCom) application messages."""

from __future__ import annotations

from typing import ClassVar

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.secrets import Secret

DEFAULT_API_URL = "https://qyapi.weixin.qq.com/cgi-bin/"


class WechatConfig(NotifierConfig):
    default_send_resolved: ClassVar[bool] = False

    api_secret: Secret | None = None
    api_url: str | None = None
    corp_id: str = ""
    message: str = '{{ template "wechat.default.message" . }}'
    message_type: str = "text"
    agent_id: str = '{{ template "wechat.default.agent_id" . }}'
    to_user: str = '{{ template "wechat.default.to_user" . }}'
    to_party: str = '{{ template "wechat.default.to_party" . }}'
    to_tag: str = '{{ template "wechat.default.to_tag" . }}'


def resolve(c: WechatConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> WechatConfig:
    g = checks.global_
    if c.message_type not in ("text", "markdown"):
        checks.err((*p, "message_type"),
                   f"weChat message type {c.message_type!r} does not match valid options text, markdown")
    secret = c.api_secret or g.wechat_api_secret
    corp = c.corp_id or g.wechat_api_corp_id or ""
    if secret is None:
        checks.err(p, "missing api_secret on wechat_config (or global wechat_api_secret)")
    if not corp:
        checks.err(p, "missing corp_id on wechat_config (or global wechat_api_corp_id)")
    s = checks.secret((*p, "api_secret"), secret, None, "WeChat API secret", name)
    url = c.api_url or g.wechat_api_url or DEFAULT_API_URL
    return c.model_copy(update={"api_secret": s, "corp_id": corp,
                                "api_url": url if url.endswith("/") else url + "/",
                                "http_config": checks.http_config(c)})
