"""Webhook: Alertmanager's JSON payload (``"version": "4"``), byte-compatible field names.

``max_alerts`` truncates the list before anything else is computed (so ``status`` and the
common labels describe the alerts sent) and reports how many were left out in
``truncatedAlerts``, as Alertmanager does.
"""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, alert_to_dict, payload_common
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.types import Alert
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.config.receivers.base import NotifierConfig
from guardia.config.receivers.webhook import WebhookConfig


def webhook_payload(ctx: NotifyContext, alerts: list[Alert], max_alerts: int = 0) -> dict[str, Any]:
    shown = alerts[:max_alerts] if max_alerts > 0 else alerts
    body = payload_common(ctx, shown)  # Alertmanager truncates first: status & common labels follow
    return {
        "receiver": body["receiver"],
        "status": body["status"],
        "alerts": [alert_to_dict(a, ctx.now) for a in shown],
        "groupLabels": body["groupLabels"],
        "commonLabels": body["commonLabels"],
        "commonAnnotations": body["commonAnnotations"],
        "externalURL": body["externalURL"],
        "version": "4",
        "groupKey": ctx.group_key,
        "truncatedAlerts": len(alerts) - len(shown),
    }


class Webhook:
    def __init__(self, cfg: WebhookConfig) -> None:
        self.cfg = cfg
        assert cfg.url is not None, "validated config always has a url"
        self.url = cfg.url.reveal()

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        body = webhook_payload(ctx, alerts, self.cfg.max_alerts)
        timeout = self.cfg.timeout / 1000 if self.cfg.timeout else None
        async with client_for(self.cfg.http_config) as client:
            headers = {"Idempotency-Key": ctx.notification_id} if ctx.notification_id else None
            await post(client, self.url, json=body, headers=headers, timeout_s=timeout)


def notifier(cfg: NotifierConfig, am: AlertmanagerConfig) -> Webhook:
    """The webhook notifier for one validated ``webhook_configs`` entry (see ``build_notifier``)."""
    assert isinstance(cfg, WebhookConfig)
    return Webhook(cfg)
