"""Slack incoming webhook: one attachment with Alertmanager's default title, link, color,
fallback and fields; every text field is a template expanded per notification."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.slack import SlackConfig

DEFAULTS = {
    "title": '{{ template "slack.default.title" . }}',
    "title_link": '{{ template "slack.default.titlelink" . }}',
    "username": '{{ template "slack.default.username" . }}',
    "color": '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}',
    "pretext": '{{ template "slack.default.pretext" . }}',
    "text": '{{ template "slack.default.text" . }}',
    "fallback": '{{ template "slack.default.fallback" . }}',
    "callback_id": '{{ template "slack.default.callbackid" . }}',
    "icon_emoji": '{{ template "slack.default.iconemoji" . }}',
    "icon_url": '{{ template "slack.default.iconurl" . }}',
    "footer": '{{ template "slack.default.footer" . }}',
}
MAX_TITLE_RUNES = 1024


class Slack:
    def __init__(self, cfg: SlackConfig, templater: Templater) -> None:
        assert cfg.api_url is not None, "validated config always has an api_url"
        self.cfg = cfg
        self.url = cfg.api_url.reveal()
        self.t = templater

    def payload(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        data = template_data(ctx, alerts)
        c = self.cfg

        def x(field: str) -> str:
            value = getattr(c, field)
            return self.t.expand(value if value is not None else DEFAULTS.get(field, ""), data)

        att: dict[str, Any] = {
            "title": x("title")[:MAX_TITLE_RUNES], "title_link": x("title_link"), "pretext": x("pretext"),
            "text": x("text"), "fallback": x("fallback"), "callback_id": x("callback_id"),
            "image_url": x("image_url"), "thumb_url": x("thumb_url"), "footer": x("footer"),
            "color": x("color"),
            "mrkdwn_in": c.mrkdwn_in if c.mrkdwn_in is not None else ["fallback", "pretext", "text"],
        }
        if c.fields:
            att["fields"] = [
                {"title": self.t.expand(f.title, data), "value": self.t.expand(f.value, data),
                 "short": f.short if f.short is not None else c.short_fields}
                for f in c.fields
            ]
        if c.actions:
            att["actions"] = [{k: self.t.expand(v, data) if isinstance(v, str) else v for k, v in a.items()}
                              for a in c.actions]
        body: dict[str, Any] = {
            "channel": x("channel"), "username": x("username"), "icon_emoji": x("icon_emoji"),
            "icon_url": x("icon_url"), "link_names": c.link_names,
            "attachments": [{k: v for k, v in att.items() if v not in ("", None, [])}],
        }
        return {k: v for k, v in body.items() if v not in ("", None, False)}

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        body = self.payload(ctx, alerts)
        async with client_for(self.cfg.http_config) as client:
            resp = await post(client, self.url, json=body)
        # Web API endpoints (chat.postMessage) answer 200 with {"ok": false, "error": ...}.
        if resp.headers.get("content-type", "").startswith("application/json"):
            try:
                data = resp.json()
            except ValueError:
                return
            if isinstance(data, dict) and data.get("ok") is False:
                raise NotifyError(f"slack error: {data.get('error', 'unknown')}", retryable=False,
                                  reason="clientError")


notifier = templated_notifier(Slack, SlackConfig)
"""The slack notifier for one validated ``slack_configs`` entry (see ``build_notifier``)."""
