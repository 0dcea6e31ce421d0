"""WeChat Work (WeCom): an access token from ``gettoken`` (kept two hours), then
``message/send``; a 200 with ``errcode`` 42001 (token expired) drops the token and retries."""

from __future__ import annotations

import time
from typing import Any

from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.receivers.http import check_status, client_for, post, redact_url
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.wechat import WechatConfig

TOKEN_TTL_S = 2 * 3600


class WeChat:
    def __init__(self, cfg: WechatConfig, templater: Templater) -> None:
        assert cfg.api_secret is not None and cfg.api_url is not None
        self.cfg, self.t = cfg, templater
        self._token = ""
        self._token_at = 0.0

    def message(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        c = self.cfg
        data = template_data(ctx, alerts)

        def x(s: str) -> str:
            return self.t.expand(s, data)

        body: dict[str, Any] = {"touser": x(c.to_user), "toparty": x(c.to_party), "totag": x(c.to_tag),
                                "agentid": x(c.agent_id), "safe": "0", "msgtype": c.message_type}
        body = {k: v for k, v in body.items() if v}
        # both content objects are always there, the unused one empty, as Alertmanager sends them
        text = x(c.message)
        body["text"] = {"content": text if c.message_type == "text" else ""}
        body["markdown"] = {"content": text if c.message_type == "markdown" else ""}
        return body

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        c = self.cfg
        assert c.api_secret is not None
        async with client_for(c.http_config) as client:
            if not self._token or time.monotonic() - self._token_at > TOKEN_TTL_S:
                url = f"{c.api_url}gettoken"
                try:
                    r = await client.get(url, params={"corpsecret": c.api_secret.reveal(),
                                                      "corpid": c.corp_id})
                except Exception as e:
                    raise NotifyError(f"error getting a token from {redact_url(url)}: {e}",
                                      retryable=True) from None
                check_status(r, url)
                token = (r.json() or {}).get("access_token", "")
                if not token:
                    raise NotifyError(f"invalid APISecret for CorpID: {c.corp_id}", retryable=False)
                self._token, self._token_at = token, time.monotonic()
            resp = await post(client, f"{c.api_url}message/send", json=self.message(ctx, alerts),
                              params={"access_token": self._token})
        answer = resp.json()
        code = answer.get("errcode", 0)
        if code == 42001:
            self._token = ""
            raise NotifyError(str(answer.get("errmsg", "access token expired")), retryable=True)
        if code:
            raise NotifyError(str(answer.get("errmsg", f"errcode {code}")), retryable=False,
                              reason="clientError")


notifier = templated_notifier(WeChat, WechatConfig)
