"""Pushover: the message's fields as query parameters of a POST to messages.json (token and user
included, so the URL is never logged); priority 2 (emergency) carries ``retry``/``expire``."""

from __future__ import annotations

from guardia.alerting.receivers.base import NotifyContext
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.pushover import PushoverConfig

MAX_TITLE, MAX_MESSAGE, MAX_URL = 250, 1024, 512


class Pushover:
    def __init__(self, cfg: PushoverConfig, templater: Templater) -> None:
        assert cfg.token is not None and cfg.user_key is not None
        self.cfg, self.t = cfg, templater

    def params(self, ctx: NotifyContext, alerts: list[Alert]) -> list[tuple[str, str]]:
        c = self.cfg
        assert c.token is not None and c.user_key is not None
        data = template_data(ctx, alerts)

        def x(s: str) -> str:
            return self.t.expand(s, data)

        out = [("token", c.token.reveal()), ("user", c.user_key.reveal()), ("title", x(c.title)[:MAX_TITLE])]
        if c.html:
            out.append(("html", "1"))
        if c.monospace:
            out.append(("monospace", "1"))
        message = x(c.message)[:MAX_MESSAGE].strip() or "(no details)"  # Pushover refuses an empty one
        out += [("message", message), ("url", x(c.url)[:MAX_URL]), ("url_title", x(c.url_title)),
                ("priority", x(c.priority)), ("retry", str(c.retry // 1000)),
                ("expire", str(c.expire // 1000)),
                ("device", x(c.device)), ("sound", x(c.sound))]
        if c.ttl // 1000 > 0:
            out.append(("ttl", str(c.ttl // 1000)))
        return out

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        async with client_for(self.cfg.http_config) as client:
            await post(client, self.cfg.api_url, data=b"", params=self.params(ctx, alerts),
                       headers={"Content-Type": "text/plain"})


notifier = templated_notifier(Pushover, PushoverConfig)
