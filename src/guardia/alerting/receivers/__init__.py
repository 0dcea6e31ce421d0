"""Integrations, one module each over the shared HTTP helper; ``build_notifier`` picks one."""

from __future__ import annotations

import os

from guardia.alerting.receivers.base import Notifier, NotifyContext, NotifyError
from guardia.alerting.templates import Templater
from guardia.config.alertmanager import (
    AlertmanagerConfig,
    EmailConfig,
    MSTeamsConfig,
    NotifierConfig,
    PagerdutyConfig,
    SlackConfig,
    TelegramConfig,
    WebhookConfig,
)

_TEMPLATERS: dict[tuple[tuple[str, int], ...], Templater] = {}


def templater_for(am: AlertmanagerConfig) -> Templater:
    """One parsed template set per set of template files and their modification times, so
    all receivers share one parse and a reload after editing a template picks it up."""
    key = tuple((f, os.stat(f).st_mtime_ns if os.path.exists(f) else 0) for f in am.template_files)
    if key not in _TEMPLATERS:
        if len(_TEMPLATERS) > 16:
            _TEMPLATERS.clear()
        _TEMPLATERS[key] = Templater(list(am.template_files))
    return _TEMPLATERS[key]


def build_notifier(kind: str, cfg: NotifierConfig, am: AlertmanagerConfig) -> Notifier:
    """The notifier for one integration config (validated, globals already filled in)."""
    if kind == "webhook":
        from guardia.alerting.receivers.webhook import Webhook

        assert isinstance(cfg, WebhookConfig)
        return Webhook(cfg)
    t = templater_for(am)
    if kind == "slack":
        from guardia.alerting.receivers.slack import Slack

        assert isinstance(cfg, SlackConfig)
        return Slack(cfg, t)
    if kind == "email":
        from guardia.alerting.receivers.email import Email

        assert isinstance(cfg, EmailConfig)
        return Email(cfg, t)
    if kind == "pagerduty":
        from guardia.alerting.receivers.pagerduty import PagerDuty

        assert isinstance(cfg, PagerdutyConfig)
        return PagerDuty(cfg, t)
    if kind == "telegram":
        from guardia.alerting.receivers.telegram import Telegram

        assert isinstance(cfg, TelegramConfig)
        return Telegram(cfg, t)
    if kind == "msteams":
        from guardia.alerting.receivers.msteams import MSTeams

        assert isinstance(cfg, MSTeamsConfig)
        return MSTeams(cfg, t)
    raise ValueError(f"unknown integration {kind!r}")


__all__ = ["Notifier", "NotifyContext", "NotifyError", "build_notifier", "templater_for"]
