"""Email over SMTP with aiosmtplib: implicit TLS on port 465, STARTTLS otherwise (required
by default, as Alertmanager's ``require_tls``), AUTH when a username is set, and a
multipart/alternative message with text and HTML bodies.

SMTP 5xx replies are permanent (the address or the message is wrong); 4xx replies and
connection failures are retried.
"""

from __future__ import annotations

import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.httpclient import ssl_context
from guardia.config.receivers.email import EmailConfig


class Email:
    def __init__(self, cfg: EmailConfig, templater: Templater) -> None:
        self.cfg = cfg
        self.t = templater
        host, _, port = str(cfg.smarthost).rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.implicit_tls = self.port == 465  # SMTPS, as Alertmanager decides it: by the port

    def message(self, ctx: NotifyContext, alerts: list[Alert]) -> EmailMessage:
        data = template_data(ctx, alerts)
        c = self.cfg
        headers = {k.title(): v for k, v in c.headers.items()}
        msg = EmailMessage()
        subject = headers.pop("Subject", '{{ template "email.default.subject" . }}')
        msg["Subject"] = self.t.expand(subject, data)
        msg["From"] = self.t.expand(headers.pop("From", str(c.from_)), data)
        msg["To"] = self.t.expand(headers.pop("To", str(c.to)), data)
        msg["Date"] = formatdate(time.time(), localtime=False)
        msg["Message-Id"] = make_msgid(domain="guardia")
        for k, v in headers.items():
            msg[k] = self.t.expand(v, data)
        text = self.t.expand(c.text if c.text is not None else '{{ template "email.default.text" . }}', data)
        html = self.t.expand(c.html if c.html is not None else '{{ template "email.default.html" . }}', data)
        msg.set_content(text or " ")
        if html:
            msg.add_alternative(html, subtype="html")
        return msg

    def _tls_context(self) -> ssl.SSLContext:
        return ssl_context(self.cfg.tls_config)

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        c = self.cfg
        msg = self.message(ctx, alerts)
        implicit = self.implicit_tls
        tls = self._tls_context()
        server_name = (c.tls_config.server_name if c.tls_config and c.tls_config.server_name else self.host)
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, use_tls=implicit, start_tls=False,
                               tls_context=tls, local_hostname=c.hello, timeout=30)
        where = f"{self.host}:{self.port}"
        try:
            await smtp.connect()
            await smtp.ehlo()
            if not implicit and c.require_tls:
                if not smtp.supports_extension("starttls"):
                    raise NotifyError(f"'require_tls' is true (default) but {where} does not advertise the "
                                      "STARTTLS extension", retryable=True, reason="other")
                await smtp.starttls(tls_context=tls, server_hostname=server_name)
                await smtp.ehlo()  # extensions (AUTH) are announced again over TLS
            if c.auth_username:
                if not smtp.supports_extension("auth"):
                    raise NotifyError(f"auth_username is set but {where} does not advertise AUTH",
                                      retryable=False, reason="clientError")
                pw = c.auth_password.reveal() if c.auth_password else ""
                await smtp.login(c.auth_username, pw)
            await smtp.send_message(msg)
        except aiosmtplib.SMTPResponseException as e:
            permanent = 500 <= e.code <= 599
            raise NotifyError(f"SMTP {where} replied {e.code}: {e.message}", retryable=not permanent,
                              reason="clientError" if permanent else "serverError") from None
        except (aiosmtplib.SMTPException, OSError) as e:
            raise NotifyError(f"SMTP {where}: {e}", retryable=True, reason="other") from None
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()


notifier = templated_notifier(Email, EmailConfig)
"""The email notifier for one validated ``email_configs`` entry (see ``build_notifier``)."""
