"""Status page subscriptions end to end: double opt-in for email, unsubscribe links (RFC 8058
one-click too), through the page's HTTP routes and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from guardia.probes.config import load_probes
from guardia.probes.service import ProbeService
from guardia.probes.status import PENDING_FOR_MS, StatusStore
from guardia.probes.subscribers import SubscriberNotifier
from guardia.probes.uptime import UptimeCache
from guardia.storage.memory import MemoryStorage
from guardia.web.status.pages import StatusDeps, StatusSite
from tests.probes.test_probers_more import free_port

EDITOR = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret-editor").decode()}
NOW = 1_790_000_000.0


@dataclass
class Mailbox:
    got: list[Message]

    def wait(self, n: int, timeout: float = 10) -> list[Message]:
        deadline = time.time() + timeout
        while len(self.got) < n and time.time() < deadline:
            time.sleep(0.05)
        assert len(self.got) >= n, [m["Subject"] for m in self.got]
        return self.got

    def quiet(self, n: int, for_s: float = 1.5) -> None:
        time.sleep(for_s)
        assert len(self.got) == n, [m["Subject"] for m in self.got]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box = Mailbox([])

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = message_from_bytes(envelope.content)
            msg["X-Rcpt"] = ",".join(envelope.rcpt_tos)
            box.got.append(msg)
            return "250 OK"

    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        yield box, port
    finally:
        smtp.stop()


@pytest.fixture
def client(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[TestClient]:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(f"""
probes:
  - {{name: api, module: tcp_connect, targets: ["127.0.0.1:1"]}}
status_pages:
  - slug: public
    title: Example status
    editors: {{username: ops, password: s3cret-editor}}
    email: {{smarthost: "127.0.0.1:{mailbox[1]}", from: status@example.com, require_tls: false}}
    groups: [{{name: All, probes: [api]}}]
""")
    storage = MemoryStorage()
    service = ProbeService(storage)
    service.apply_config(load_probes(str(cfg)))
    store = StatusStore(tmp_path / "status.json")
    SubscriberNotifier(store, lambda: service.config.status_pages, "http://status.example.com")
    deps = StatusDeps(service, store, UptimeCache(storage, store.windows), storage, "http://status.example.com")
    with TestClient(Starlette(routes=StatusSite(deps).routes())) as c:
        yield c


def _link(msg: Message, what: str) -> str:
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes)
    m = re.search(rf"http://status\.example\.com(/status/public/{what}/[\w-]+)", body.decode())
    assert m, body.decode()
    return m.group(1)


def _incident(client: TestClient, title: str) -> None:
    r = client.post("/status/public/manage/incidents", headers=EDITOR,
                    data={"title": title, "message": "Elevated 5xx."}, follow_redirects=False)
    assert r.status_code in (200, 303), r.text


def test_email_double_opt_in_then_one_click_unsubscribe(client: TestClient,
                                                        mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    r = client.post("/status/public/subscribe", data={"kind": "email", "address": "ops@example.com"})
    assert r.status_code == 200 and "Check your inbox" in r.text
    [confirm_mail] = box.wait(1)
    assert confirm_mail["X-Rcpt"] == "ops@example.com"
    assert confirm_mail["Subject"] == "[Example status] Confirm your subscription"
    confirm = _link(confirm_mail, "confirm")

    _incident(client, "Before confirming")  # the address has not said yes: nothing goes to it
    box.quiet(1)

    # asking again re-sends the same link; a wrong link is refused
    client.post("/status/public/subscribe", data={"kind": "email", "address": "ops@example.com"})
    assert _link(box.wait(2)[1], "confirm") == confirm
    assert client.get("/status/public/confirm/not-a-token").status_code == 404
    r = client.get(confirm)
    assert r.status_code == 200 and "ops@example.com will hear about incidents" in r.text

    _incident(client, "After confirming")
    mail = box.wait(3)[2]
    assert mail["Subject"] == "[Example status] After confirming: opened"
    unsubscribe = _link(mail, "unsubscribe")
    assert mail["List-Unsubscribe"] == f"<http://status.example.com{unsubscribe}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # GET only asks (a mail scanner following links unsubscribes nobody) ...
    r = client.get(unsubscribe)
    assert r.status_code == 200 and "Unsubscribe?" in r.text and f'action="{unsubscribe}"' in r.text
    _incident(client, "Still subscribed")
    box.wait(4)
    # ... the mail client's one-click POST (RFC 8058) does it
    r = client.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "will hear nothing more" in r.text
    assert client.post(unsubscribe).status_code == 404  # used up
    _incident(client, "After unsubscribing")
    box.quiet(4)


def test_webhook_payloads_carry_their_unsubscribe_link(client: TestClient, tmp_path: Path) -> None:
    import http.server
    import threading

    got: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        r = client.post("/status/public/subscribe", data={"kind": "webhook", "address": url})
        assert "Subscribed" in r.text  # a webhook needs no confirmation
        _incident(client, "API errors")
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.05)
        [event] = got
        m = re.fullmatch(r"http://status\.example\.com(/status/public/unsubscribe/[\w-]+)",
                         event["unsubscribe"])
        assert m and event["event"] == "incident.opened"
        assert client.post(m.group(1)).status_code == 200
        assert client.post(m.group(1)).status_code == 404
    finally:
        srv.shutdown()


def test_pending_links_expire_and_old_files_keep_their_subscribers(tmp_path: Path) -> None:
    now = [NOW]
    store = StatusStore(tmp_path / "status.json", clock=lambda: now[0])
    sub = store.subscribe("p", "email", "late@example.com")
    assert not sub.confirmed and store.page_subscribers("p") == []
    now[0] += PENDING_FOR_MS / 1000 + 1
    assert store.confirm("p", sub.token) is None  # a week without a click: the link is dead
    store.subscribe("p", "webhook", "https://hooks.example.com/x")  # pruned on the next subscription
    assert [s.address for s in store.subscribers] == ["https://hooks.example.com/x"]
    assert store.confirm("other-page", store.subscribers[0].token) is None  # a token is per page

    # a file written before links existed: its subscribers stay subscribed and get a token
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"incidents": [], "maintenance": [], "subscribers": [
        {"page": "p", "kind": "email", "address": "ops@example.com", "created_ms": 1}]}))
    loaded = StatusStore(old)
    [kept] = loaded.page_subscribers("p")
    assert kept.confirmed and len(kept.token) >= 24
    assert loaded.unsubscribe("p", kept.token) is kept
    assert StatusStore(old).subscribers == []  # the removal was saved
