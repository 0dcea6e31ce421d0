"""Real local servers the probe tests aim at: HTTP(S), a TCP banner, DNS (dnslib), WebSocket, gRPC health.

Each binds 127.0.0.1 on a free port, runs in a daemon thread and is stopped by the fixture.
"""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import socketserver
import ssl
import threading
from pathlib import Path
from typing import Any


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    failing: set[str] = set()  # noqa: RUF012  ids of /flaky?id=... answering 503

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              chunked: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:
        path, _, _ = self.path.partition("?")
        if path == "/health":
            self._send(200, json.dumps({"status": "UP", "checks": [{"name": "db", "ok": True}]}).encode(),
                       {"Content-Type": "application/json", "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"})
        elif path == "/down":
            self._send(200, b'{"status": "DOWN"}', {"Content-Type": "application/json", "X-Bad": "yes"})
        elif path == "/redirect":
            self._send(302, b"", {"Location": "/health"})
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path == "/flaky":
            ident = self.path.partition("id=")[2]
            # "id@location" fails only for probes sending that X-Location (one guardia of several)
            here = f"{ident}@{self.headers.get('X-Location', '')}"
            self._send(503 if ident in Handler.failing or here in Handler.failing else 200, b"flaky")
        elif path == "/error":
            self._send(503, b"unavailable")
        elif path == "/chunked":
            self._send(200, b"a body sent in several chunks", chunked=True)
        elif path == "/gzip":
            self._send(200, gzip.compress(b"compressed body " * 10), {"Content-Encoding": "gzip"})
        elif path == "/auth":
            if self.headers.get("Authorization") == "Bearer s3cret-token":
                self._send(200, b"ok")
            else:
                self._send(401, b"no")
        elif path == "/slow":
            import time
            time.sleep(2)
            self._send(200, b"late")
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        self._send(200 if self.path == "/echo" or self.path.startswith("/health") else 404, body)

    def do_HEAD(self) -> None:
        self._send(200)

    def log_message(self, *args: Any) -> None:
        pass


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_http(cert: Path | None = None, key: Path | None = None) -> _HTTPServer:
    srv = _HTTPServer(("127.0.0.1", 0), Handler)
    if cert is not None and key is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _Banner(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"SSH-2.0-OpenSSH_9.2 guardia-test\r\n")
        try:
            self.request.settimeout(2)
            self.request.recv(100)
        except OSError:
            pass


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_banner() -> _TCPServer:
    srv = _TCPServer(("127.0.0.1", 0), _Banner)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def start_dns() -> Any:
    from dnslib import QTYPE, RR, SOA, A
    from dnslib.server import BaseResolver, DNSServer

    class Resolver(BaseResolver):  # type: ignore[misc]
        def resolve(self, request: Any, handler: Any) -> Any:
            reply = request.reply()
            name = str(request.q.qname)
            if name == "example.com.":
                reply.add_answer(RR(name, QTYPE.A, rdata=A("192.0.2.10"), ttl=300))
                reply.add_auth(RR(name, QTYPE.SOA, rdata=SOA("ns1.example.com", "admin.example.com",
                                                              (2024010101, 3600, 600, 86400, 60)), ttl=300))
            elif name == "soa.example.com." and request.q.qtype == QTYPE.SOA:
                reply.add_answer(RR(name, QTYPE.SOA, rdata=SOA("ns1.example.com", "admin.example.com",
                                                                (42, 3600, 600, 86400, 60)), ttl=300))
            else:
                reply.header.rcode = 3  # NXDOMAIN
            return reply

    port = free_port()
    srv = DNSServer(Resolver(), port=port, address="127.0.0.1")
    srv.start_thread()
    tcp = DNSServer(Resolver(), port=port, address="127.0.0.1", tcp=True)
    tcp.start_thread()
    srv.port = port
    srv.tcp_server = tcp
    return srv


def start_websocket() -> tuple[Any, int]:
    from websockets.sync.server import serve

    def handler(ws: Any) -> None:
        for msg in ws:
            ws.send(f"echo: {msg}")

    port = free_port()
    srv = serve(handler, "127.0.0.1", port)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, port


def start_grpc_health(tls: tuple[Path, Path] | None = None) -> tuple[Any, Any, int]:
    """A gRPC health server; ``tls`` (certificate, key) serves it over TLS."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("service1", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("sick", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        creds = grpc.ssl_server_credentials([(tls[1].read_bytes(), tls[0].read_bytes())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, servicer, port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
