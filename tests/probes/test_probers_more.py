"""The rest of the http and tcp settings against real peers: a proxy (tinyproxy), an OAuth2 token
endpoint, STARTTLS, and email subscribers through a real SMTP sink (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import socketserver
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from guardia.probes.modules import Module
from guardia.probes.prober import run_probe
from tests.probes.conftest import Targets
from tests.probes.servers import Handler, free_port
from tests.tinyproxy import tinyproxy


def probe(target: str, module: dict[str, Any]) -> Any:
    return asyncio.run(run_probe(target, Module.model_validate(module), 5))


def test_http_through_a_proxy(tmp_path: Path, targets: Targets) -> None:
    with tinyproxy(tmp_path) as proxy:
        r = probe(f"http://{targets.http}/health", {"prober": "http", "http": {"proxy_url": proxy.url}})
        assert r.success, r.reason
        assert any("/health" in line for line in proxy.forwarded())
        tls = probe(f"https://{targets.https['good']}/health", {"prober": "http", "http": {
            "proxy_url": proxy.url, "tls_config": {"ca_file": str(targets.ca_file)}}})
        assert tls.success, tls.reason  # CONNECT tunnel, then TLS to the target
        assert tls.get("probe_http_ssl") == 1


def test_oauth2_client_credentials(targets: Targets) -> None:
    class Token(Handler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            basic = self.headers["Authorization"].startswith("Basic ")
            ok = "grant_type=client_credentials" in body and basic
            token = json.dumps({"access_token": "s3cret-token", "expires_in": 3600}).encode()
            self._send(200 if ok else 400, token, {"Content-Type": "application/json"})

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Token)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        token_url = f"http://127.0.0.1:{srv.server_address[1]}/token"
        r = probe(f"http://{targets.http}/auth", {"prober": "http", "http": {"oauth2": {
            "client_id": "guardia", "client_secret": "x", "token_url": token_url}}})
        assert r.success, r.reason
    finally:
        srv.shutdown()


def test_tcp_starttls(targets: Targets) -> None:
    leaf = targets.leaves["good"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(leaf.cert, leaf.key)

    class Smtp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 mail.example.com ESMTP\r\n")
            self.rfile.readline()
            self.wfile.write(b"220 Ready to start TLS\r\n")
            tls = ctx.wrap_socket(self.connection, server_side=True)
            tls.recv(10)

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = probe(f"localhost:{srv.server_address[1]}", {"prober": "tcp", "tcp": {
            "query_response": [{"expect": "^220 "}, {"send": "STARTTLS"}, {"expect": "^220 "},
                               {"starttls": True}],
            "tls_config": {"ca_file": str(targets.ca_file)}}})
        assert r.success, r.reason
        assert r.get("probe_ssl_earliest_cert_expiry") == leaf.not_after.timestamp()
    finally:
        srv.shutdown()


def test_email_subscribers_get_the_incident(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from guardia.probes.config import load_probes
    from guardia.probes.status import StatusStore
    from guardia.probes.subscribers import SubscriberNotifier

    got: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            got.append(envelope)
            return "250 OK"

    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        cfg = tmp_path / "guardia.yml"
        cfg.write_text(f"""
probes:
  - {{name: api, module: tcp_connect, targets: ["127.0.0.1:1"]}}
status_pages:
  - slug: public
    title: Example status
    email: {{smarthost: "127.0.0.1:{port}", from: status@example.com, require_tls: false}}
    groups: [{{name: All, probes: [api]}}]
""")
        pages = load_probes(str(cfg)).status_pages
        store = StatusStore(None)
        notifier = SubscriberNotifier(store, lambda: pages, "http://status.example.com")
        sub = store.subscribe("public", "email", "ops@example.com")  # no loop here: no confirmation mail
        store.confirm("public", sub.token)

        async def run() -> None:
            store.open_incident("public", "API errors", "Elevated 5xx since 10:02.")
            await asyncio.gather(*notifier.tasks)

        asyncio.run(run())
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            time.sleep(0.05)
        [mail] = got
        assert mail.rcpt_tos == ["ops@example.com"]
        text = mail.content.decode()
        assert "Subject: [Example status] API errors: opened" in text and "Elevated 5xx since 10:02." in text
        assert f"List-Unsubscribe: <http://status.example.com/status/public/unsubscribe/{sub.token}>" in text
    finally:
        smtp.stop()
