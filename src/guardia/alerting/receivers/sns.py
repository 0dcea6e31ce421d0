"""Amazon SNS: the Publish action (Query API, form-encoded) to a topic, a target or a phone
number, signed with SigV4 from the configured keys; SMS messages are cut to 140 characters."""

from __future__ import annotations

from urllib.parse import urlencode

from guardia.alerting.receivers.base import NotifyContext
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.receivers.sigv4 import sign
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.sns import SNSConfig

MAX_SMS = 140
MAX_MESSAGE_BYTES = 256 * 1024


class SNS:
    def __init__(self, cfg: SNSConfig, templater: Templater) -> None:
        self.cfg, self.t = cfg, templater

    @property
    def url(self) -> str:
        return self.cfg.api_url or f"https://sns.{self.cfg.sigv4.region}.amazonaws.com/"

    def params(self, ctx: NotifyContext, alerts: list[Alert]) -> list[tuple[str, str]]:
        c = self.cfg
        data = template_data(ctx, alerts)
        message = self.t.expand(c.message, data)
        out = [("Action", "Publish"), ("Version", "2010-03-31")]
        if c.phone_number:
            out.append(("PhoneNumber", c.phone_number))
            message = message[:MAX_SMS]
        elif c.target_arn:
            out.append(("TargetArn", c.target_arn))
        else:
            out.append(("TopicArn", c.topic_arn))
        out.append(("Message", message.encode()[:MAX_MESSAGE_BYTES].decode("utf-8", "ignore")))
        subject = self.t.expand(c.subject, data)
        if subject:
            out.append(("Subject", subject))
        if not c.attributes:
            out.append(("MessageAttributes", ""))  # what AWS's Go SDK sends for none (Alertmanager's)
        for i, (k, v) in enumerate(sorted(c.attributes.items()), start=1):
            out += [(f"MessageAttributes.entry.{i}.Name", k),
                    (f"MessageAttributes.entry.{i}.Value.DataType", "String"),
                    (f"MessageAttributes.entry.{i}.Value.StringValue", v)]
        return out

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        c = self.cfg
        assert c.sigv4.secret_key is not None
        body = urlencode(self.params(ctx, alerts)).encode()
        headers = sign("POST", self.url, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                       body, access_key=c.sigv4.access_key, secret_key=c.sigv4.secret_key.reveal(),
                       region=c.sigv4.region, service="sns")
        async with client_for(c.http_config) as client:
            await post(client, self.url, data=body, headers=headers)


notifier = templated_notifier(SNS, SNSConfig)
