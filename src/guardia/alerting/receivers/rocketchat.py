"""Rocket.Chat: ``POST api/v1/chat.postMessage`` with one attachment, authenticated by the
``X-Auth-Token``/``X-User-Id`` headers; a 200 whose JSON says ``success: false`` is a failure."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.rocketchat import RocketchatConfig

MAX_TITLE = 1024


class Rocketchat:
    def __init__(self, cfg: RocketchatConfig, templater: Templater) -> None:
        assert cfg.token is not None and cfg.token_id is not None
        self.cfg, self.t = cfg, templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        c = self.cfg
        data = template_data(ctx, alerts)

        def x(s: str) -> str:
            return self.t.expand(s, data)

        att: dict[str, Any] = {"title": x(c.title)[:MAX_TITLE], "title_link": x(c.title_link),
                               "text": x(c.text),
                               "image_url": x(c.image_url), "thumb_url": x(c.thumb_url), "color": x(c.color)}
        att = {k: v for k, v in att.items() if v}
        if c.fields:
            att["fields"] = [{"title": x(f.title), "value": x(f.value),
                              "short": c.short_fields if f.short is None else f.short} for f in c.fields]
        if c.actions:
            att["actions"] = [{"type": "button", "text": x(a.text), "url": x(a.url), "msg": x(a.msg)}
                              for a in c.actions]
        body: dict[str, Any] = {"channel": x(c.channel), "emoji": x(c.emoji), "avatar": x(c.icon_url),
                                "attachments": [att]}
        return {k: v for k, v in body.items() if v}

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        c = self.cfg
        assert c.token is not None and c.token_id is not None
        url = str(c.api_url).rstrip("/") + "/api/v1/chat.postMessage"
        headers = {"X-Auth-Token": c.token.reveal(), "X-User-Id": c.token_id.reveal()}
        async with client_for(c.http_config) as client:
            resp = await post(client, url, json=self.payload(ctx, alerts), headers=headers)
        try:
            answer = resp.json()
        except ValueError:
            raise NotifyError(f"could not read Rocket.Chat's answer: {resp.text[:200]!r}",
                              retryable=True) from None
        if not answer.get("success"):
            raise NotifyError(f"error response from Rocket.Chat: {answer.get('error')}", retryable=False,
                              reason="clientError")


notifier = templated_notifier(Rocketchat, RocketchatConfig)
