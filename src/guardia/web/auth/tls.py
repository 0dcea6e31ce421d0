"""The TLS listener: the web config's ``tls_server_config`` as an ``ssl.SSLContext``, served by
hypercorn, which speaks HTTP/2 (negotiated by ALPN) as well as HTTP/1.1.

uvicorn, which serves plain HTTP, has no HTTP/2; hypercorn is used only when TLS is on, so the
default listener is unchanged.  Client certificates follow exporter-toolkit's
``client_auth_type`` names; Python's ``ssl`` cannot ask for a certificate without verifying
it, so ``RequestClientCert`` asks for none and ``RequireAnyClientCert`` verifies against
``client_ca_file`` like ``RequireAndVerifyClientCert`` (docs/auth.md says so).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.utils import wrap_app
from starlette.types import ASGIApp

from guardia.config.webconfig import TlsServerConfig

_VERIFY = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


def server_context(tls: TlsServerConfig, http2: bool = True) -> ssl.SSLContext:
    """The server side of ``tls``; raises ``ssl.SSLError``/``OSError`` if a file does not load."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = _VERSIONS.get(tls.min_version or "TLS12", ssl.TLSVersion.TLSv1_2)
    if tls.max_version:
        ctx.maximum_version = _VERSIONS[tls.max_version]
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        ctx.load_verify_locations(tls.client_ca_file)
    ctx.verify_mode = _VERIFY[tls.client_auth_type]
    ctx.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return ctx


class _Config(HypercornConfig):
    def __init__(self, ctx: ssl.SSLContext) -> None:
        super().__init__()
        self._ctx = ctx
        # hypercorn turns TLS on when these are set; the context below is the one used
        self.certfile = self.keyfile = "<guardia>"

    def create_ssl_context(self) -> ssl.SSLContext:
        return self._ctx


class TlsServer:
    """An HTTPS listener on an already-bound socket, with uvicorn.Server's two flags
    (``started``, ``should_exit``) so the process drives it like its plain HTTP one."""

    def __init__(self, app: ASGIApp, ctx: ssl.SSLContext) -> None:
        self.app = app
        self.config = _Config(ctx)
        self.config.graceful_timeout = 3
        self.config.accesslog = None
        self.config.errorlog = logging.getLogger("guardia.web.tls")
        self.started = False
        self.should_exit = False

    async def _until_exit(self) -> None:
        self.started = True
        while not self.should_exit:
            await asyncio.sleep(0.1)

    async def serve(self, sockets: list[socket.socket]) -> None:
        for s in sockets:
            s.setblocking(False)
        wrapped: Any = wrap_app(self.app, self.config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
        await worker_serve(wrapped, self.config, sockets=Sockets(list(sockets), [], []),
                           shutdown_trigger=self._until_exit)
