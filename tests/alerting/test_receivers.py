"""Each integration delivers what its service documents, to local stand-ins: HTTP sinks for
Slack, PagerDuty, Telegram and Teams, and an aiosmtpd server with STARTTLS and AUTH."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from guardia.alerting import Alertmanager
from guardia.config import parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.web.alertmanager_v2 import alerts_from_postable
from tests.alerting.sinks import HTTPSink


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailSink:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, email.message.EmailMessage]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        self.messages.append((envelope, msg))  # type: ignore[arg-type]
        return "250 OK"

    def authenticator(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, pw = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((user, pw))
        return AuthResult(success=(user, pw) == ("alertas@grupogad.gob.ec", "s3cret-Real-pw"))


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
async def smtp(tls_files: tuple[Path, Path]) -> AsyncIterator[tuple[MailSink, int, Path]]:
    cert, key = tls_files
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    sink = MailSink()
    port = _free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                     authenticator=sink.authenticator, auth_required=True)
    ctl.start()
    yield sink, port, cert
    ctl.stop()


CONFIG = """
global:
  smtp_smarthost: 127.0.0.1:{smtp_port}
  smtp_from: alertas@grupogad.gob.ec
  smtp_auth_username: alertas@grupogad.gob.ec
  smtp_auth_password: s3cret-Real-pw
route:
  receiver: team
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
receivers:
  - name: team
    email_configs:
      - to: oncall@grupogad.gob.ec
        send_resolved: true
        tls_config: {{ca_file: '{ca}'}}
    slack_configs:
      - api_url: '{http}/slack/T01/B02/realtoken'
        channel: '#alerts-critical'
        send_resolved: true
        fields:
          - title: Instance
            value: '{{{{ .CommonLabels.instance }}}}'
    pagerduty_configs:
      - routing_key: 0123456789abcdef0123456789abcdef
        url: '{http}/pagerduty/v2/enqueue'
    telegram_configs:
      - api_url: '{http}/telegram'
        bot_token: '123456:AAErealtoken'
        chat_id: -100123
    msteams_configs:
      - webhook_url: '{http}/teams/hook'
"""

ALERT = {"labels": {"alertname": "DBDown", "severity": "critical", "instance": "db1"},
         "annotations": {"summary": "Primary database is down"},
         "generatorURL": "http://guardia:9090/graph?g0.expr=up"}


async def test_all_integrations_deliver_documented_bodies(smtp: tuple[MailSink, int, Path]) -> None:
    mail, port, ca = smtp
    http = await HTTPSink(response_body=b'{"ok":true}').start()
    cfg = parse_alertmanager_config(parse_yaml(CONFIG.format(smtp_port=port, ca=ca, http=http.url), "am.yml"))
    async with Alertmanager(cfg, external_url="http://guardia.example:9093") as am:
        await am.put(alerts_from_postable([ALERT]))
        await http.wait_for(4, 5)
        for _ in range(50):
            if mail.messages:
                break
            await asyncio.sleep(0.1)
        await am.put(alerts_from_postable([{**ALERT, "startsAt": "2020-01-01T00:00:00Z",
                                            "endsAt": "2020-01-01T01:00:00Z"}]))
        await http.wait_for(8, 5)
        for _ in range(50):
            if len(mail.messages) >= 2:
                break
            await asyncio.sleep(0.1)
    await http.stop()
    by_path: dict[str, list[dict[str, Any]]] = {}
    for r in http.requests:
        by_path.setdefault(r.path.split("/")[1], []).append(r.json())

    slack = by_path["slack"][0]
    assert slack["channel"] == "#alerts-critical" and slack["username"] == "Alertmanager"
    (att,) = slack["attachments"]
    assert att["title"] == "[FIRING:1] DBDown (db1 critical)"
    assert att["title_link"] == "http://guardia.example:9093/#/alerts?receiver=team"
    assert att["color"] == "danger"
    assert att["fallback"] == "[FIRING:1] DBDown (db1 critical) | http://guardia.example:9093/#/alerts?receiver=team"
    assert att["fields"] == [{"title": "Instance", "value": "db1", "short": False}]
    assert att["mrkdwn_in"] == ["fallback", "pretext", "text"]
    assert by_path["slack"][1]["attachments"][0]["color"] == "good"

    pd_trigger, pd_resolve = by_path["pagerduty"]
    assert pd_trigger["event_action"] == "trigger" and pd_resolve["event_action"] == "resolve"
    assert pd_trigger["routing_key"] == "0123456789abcdef0123456789abcdef"
    assert pd_trigger["dedup_key"] == pd_resolve["dedup_key"] and len(pd_trigger["dedup_key"]) == 64
    assert pd_trigger["payload"]["summary"] == "[FIRING:1] DBDown (db1 critical)"
    assert pd_trigger["payload"]["severity"] == "error" and pd_trigger["payload"]["source"] == "Alertmanager"
    assert pd_trigger["payload"]["custom_details"]["num_firing"] == "1"
    assert "Primary database is down" in pd_trigger["payload"]["custom_details"]["firing"]
    assert pd_trigger["client"] == "Alertmanager"

    tg = by_path["telegram"][0]
    assert next(r.path for r in http.requests if r.path.startswith("/telegram")) == \
        "/telegram/bot123456:AAErealtoken/sendMessage"
    assert tg["chat_id"] == -100123 and tg["parse_mode"] == "HTML"
    assert tg["text"].startswith("Alerts Firing:\nLabels:\n - alertname = DBDown")
    assert by_path["telegram"][1]["text"].startswith("Alerts Resolved:")

    teams = by_path["teams"][0]
    assert teams["@context"] == "http://schema.org/extensions" and teams["type"] == "MessageCard"
    assert teams["title"] == teams["summary"] == "[FIRING:1] DBDown (db1 critical)"
    assert teams["themeColor"] == "8C1A1A" and by_path["teams"][1]["themeColor"] == "2DC72D"

    assert mail.logins == [("alertas@grupogad.gob.ec", "s3cret-Real-pw")] * 2  # one per message
    env, msg = mail.messages[0]
    assert env.mail_from == "alertas@grupogad.gob.ec" and env.rcpt_tos == ["oncall@grupogad.gob.ec"]
    assert msg["Subject"] == "[FIRING:1] DBDown (db1 critical)"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and "Primary database is down" in text.get_content()
    assert html is not None
    assert '<a href="http://guardia:9090/graph?g0.expr=up">Source</a>' in html.get_content()
    assert mail.messages[1][1]["Subject"] == "[RESOLVED] DBDown (db1 critical)"


async def test_email_refuses_a_server_without_starttls_when_tls_is_required() -> None:
    from guardia.alerting.receivers.base import NotifyContext, NotifyError
    from guardia.alerting.receivers.email import Email
    from guardia.alerting.templates import Templater
    from guardia.alerting.types import Alert
    from guardia.model.labels import Labels

    sink = MailSink()
    port = _free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        cfg = parse_alertmanager_config(parse_yaml(
            f"route: {{receiver: m}}\nreceivers:\n  - name: m\n    email_configs:\n"
            f"      - {{to: a@grupogad.gob.ec, from: b@grupogad.gob.ec, smarthost: '127.0.0.1:{port}'}}\n",
            "am.yml"))
        r = cfg.receiver("m")
        assert r is not None
        notifier = Email(r.email_configs[0], Templater())
        ctx = NotifyContext("{}:{}", "m", Labels(), 0)
        with pytest.raises(NotifyError, match="does not advertise the STARTTLS extension"):
            await notifier.send(ctx, [Alert(Labels({"alertname": "X"}))])
        assert sink.messages == []
    finally:
        ctl.stop()


async def test_email_over_implicit_tls_smtps(tls_files: tuple[Path, Path]) -> None:
    from guardia.alerting.receivers.base import NotifyContext
    from guardia.alerting.receivers.email import Email
    from guardia.alerting.templates import Templater
    from guardia.alerting.types import Alert
    from guardia.model.labels import Labels

    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sink = MailSink()
    port = _free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=server_ctx)
    ctl.start()
    try:
        cfg = parse_alertmanager_config(parse_yaml(
            "route: {receiver: m}\nreceivers:\n  - name: m\n    email_configs:\n"
            "      - {to: a@grupogad.gob.ec, from: b@grupogad.gob.ec,\n"
            "         smarthost: 'smtp.grupogad.gob.ec:465',\n"
            f"         tls_config: {{ca_file: '{cert}'}}}}\n", "am.yml"))
        r = cfg.receiver("m")
        assert r is not None
        notifier = Email(r.email_configs[0], Templater())
        assert notifier.implicit_tls  # port 465 means SMTPS
        notifier.host, notifier.port = "127.0.0.1", port  # the local stand-in for smtp:465
        await notifier.send(NotifyContext("{}:{}", "m", Labels(), 0), [Alert(Labels({"alertname": "X"}))])
        (env, msg), = sink.messages
        assert env.rcpt_tos == ["a@grupogad.gob.ec"] and msg["Subject"] == "[FIRING:1]  (X)"
    finally:
        ctl.stop()


async def test_http_config_proxy_url_carries_the_webhook_through_the_proxy(tmp_path: Path) -> None:
    """global.http_config.proxy_url applies to every receiver's requests: a real proxy
    (tinyproxy) forwards the webhook, which arrives with the proxy's Via header."""
    from guardia.alerting.receivers import NotifyContext, build_notifier
    from guardia.alerting.types import Alert
    from guardia.model import Labels
    from tests.tinyproxy import tinyproxy

    sink = await HTTPSink().start()
    try:
        with tinyproxy(tmp_path) as proxy:
            am = parse_alertmanager_config(parse_yaml(
                f"global: {{http_config: {{proxy_url: '{proxy.url}'}}}}\nroute: {{receiver: h}}\n"
                f"receivers:\n  - name: h\n    webhook_configs: [{{url: '{sink.url}/hook'}}]\n", "am.yml"))
            receiver = am.receiver("h")
            assert receiver is not None
            ((kind, _, cfg),) = receiver.integrations()
            ctx = NotifyContext("{}:{}", "h", Labels(), now=1_700_000_000 * 10**9)
            alert = Alert(Labels({"alertname": "APIDown"}), starts_at=ctx.now, ends_at=ctx.now + 10**12)
            await build_notifier(kind, cfg, am).send(ctx, [alert])
            (req,) = await sink.wait_for(1)
            assert proxy.forwarded() == [f"POST {sink.url}/hook HTTP/1.1"]
        assert "tinyproxy" in req.headers.get("via", "")
        assert req.json()["alerts"][0]["labels"] == {"alertname": "APIDown"}
    finally:
        await sink.stop()


def test_every_integration_of_the_config_table_has_a_notifier() -> None:
    """The config table names the integrations; each has its notifier module, and a receiver
    has one field per integration (so adding an integration needs no other list)."""
    from guardia.alerting.receivers import notifier_factory
    from guardia.config.alertmanager import Receiver
    from guardia.config.receivers import INTEGRATIONS, UNSUPPORTED

    assert all(callable(notifier_factory(name)) for name in INTEGRATIONS)
    with pytest.raises(ValueError, match="unknown integration 'carrier_pigeon'"):
        notifier_factory("carrier_pigeon")
    fields = [f for f in Receiver.model_fields if f.endswith("_configs")]
    assert fields == [f"{n}_configs" for n in (*INTEGRATIONS, *UNSUPPORTED)]
