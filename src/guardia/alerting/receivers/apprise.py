"""Apprise: one notification (title, body, a failure or success type) to every configured
URL through the Apprise library; any URL that fails makes the delivery fail (and retried)."""

from __future__ import annotations

from guardia.alerting.receivers.base import NotifyContext, NotifyError, group_status
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.apprise import AppriseConfig


class Apprise:
    def __init__(self, cfg: AppriseConfig, templater: Templater) -> None:
        self.cfg, self.t = cfg, templater

    def message(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[str, str, bool]:
        data = template_data(ctx, alerts)
        firing = group_status(alerts, ctx.now) == "firing"
        body = self.t.expand(self.cfg.body, data) or "(no details)"
        return self.t.expand(self.cfg.title, data), body, firing

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        import apprise

        title, body, firing = self.message(ctx, alerts)
        ap = apprise.Apprise()
        for u in self.cfg.urls:
            ap.add(u.reveal())
        kind = apprise.NotifyType.FAILURE if firing else apprise.NotifyType.SUCCESS
        ok = await ap.async_notify(body=body, title=title, body_format=self.cfg.body_format, notify_type=kind)
        if not ok:
            raise NotifyError(f"Apprise could not deliver to every one of its {len(self.cfg.urls)} URLs",
                              retryable=True)


notifier = templated_notifier(Apprise, AppriseConfig)
