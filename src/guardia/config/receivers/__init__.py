"""Receiver integrations of alertmanager.yml: one module each, registered in ``INTEGRATIONS``.

An integration is its config model and its checks (``config/receivers/NAME.py``: the model,
``resolve`` for Alertmanager's checks and global defaults, optionally ``client_findings``) and
its notifier (``alerting/receivers/NAME.py``, found by the same name).  The config layer may not
import ``alerting``, so the two halves live one per layer, keyed by the name in this table,
which is the only list: the ``Receiver`` model gets one ``NAME_configs`` field per entry, the
checker resolves every entry through it, and ``alerting.receivers.build_notifier`` builds
notifiers for exactly these names.  Adding an integration is adding its two modules and a line
here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.config.httpclient import Finding
from guardia.config.receivers import (
    apprise,
    discord,
    email,
    jira,
    msteams,
    msteamsv2,
    opsgenie,
    pagerduty,
    pushover,
    rocketchat,
    slack,
    sns,
    telegram,
    victorops,
    webex,
    webhook,
    wechat,
)
from guardia.config.receivers.base import HTTPConfig, NotifierConfig, ReceiverChecks


def _no_findings(c: Any, p: FieldPath) -> Iterator[Finding]:
    return iter(())


@dataclass(frozen=True, slots=True)
class Integration:
    """One integration's config half: its model, its checks, and extra client-block checks."""

    name: str
    model: type[NotifierConfig]
    resolve: Callable[[Any, FieldPath, str, ReceiverChecks], NotifierConfig]
    client_findings: Callable[[Any, FieldPath], Iterator[Finding]] = _no_findings

    @property
    def field(self) -> str:
        """The receiver's key for this integration (``webhook_configs``)."""
        return f"{self.name}_configs"


INTEGRATIONS: dict[str, Integration] = {
    i.name: i for i in (
        Integration("webhook", webhook.WebhookConfig, webhook.resolve),
        Integration("email", email.EmailConfig, email.resolve, email.client_findings),
        Integration("slack", slack.SlackConfig, slack.resolve),
        Integration("pagerduty", pagerduty.PagerdutyConfig, pagerduty.resolve),
        Integration("telegram", telegram.TelegramConfig, telegram.resolve),
        Integration("msteams", msteams.MSTeamsConfig, msteams.resolve),
        Integration("opsgenie", opsgenie.OpsgenieConfig, opsgenie.resolve),
        Integration("victorops", victorops.VictorOpsConfig, victorops.resolve),
        Integration("pushover", pushover.PushoverConfig, pushover.resolve),
        Integration("discord", discord.DiscordConfig, discord.resolve),
        Integration("webex", webex.WebexConfig, webex.resolve),
        Integration("msteamsv2", msteamsv2.MSTeamsV2Config, msteamsv2.resolve),
        Integration("jira", jira.JiraConfig, jira.resolve),
        Integration("rocketchat", rocketchat.RocketchatConfig, rocketchat.resolve),
        Integration("sns", sns.SNSConfig, sns.resolve),
        Integration("wechat", wechat.WechatConfig, wechat.resolve),
        Integration("apprise", apprise.AppriseConfig, apprise.resolve),
    )
}
"""Every integration guardia delivers to, in the order receivers list and check them."""

UNSUPPORTED: tuple[str, ...] = ()
"""Integrations Alertmanager knows and guardia does not deliver to: accepted by the schema,
refused by the checker with a clear reason."""

__all__ = ["INTEGRATIONS", "UNSUPPORTED", "HTTPConfig", "Integration", "NotifierConfig", "ReceiverChecks"]
