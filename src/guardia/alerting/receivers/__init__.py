"""Integrations, one module each over the shared HTTP helper; ``build_notifier`` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardia.alerting.receivers.base import Notifier, NotifyContext, NotifyError
from guardia.config.alertmanager import (
    AlertmanagerConfig,
    NotifierConfig,
    WebhookConfig,
)

if TYPE_CHECKING:
    pass


def build_notifier(kind: str, cfg: NotifierConfig, am: AlertmanagerConfig) -> Notifier:
    """The notifier for one integration config (validated, globals already filled in)."""
    if kind == "webhook":
        from guardia.alerting.receivers.webhook import Webhook

        assert isinstance(cfg, WebhookConfig)
        return Webhook(cfg)
    raise NotImplementedError(f"integration {kind} is not available yet")


__all__ = ["Notifier", "NotifyContext", "NotifyError", "build_notifier"]
