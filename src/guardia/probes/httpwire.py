"""A one-request HTTP/1.1 exchange on asyncio streams, timed phase by phase.

The exporter reports where the time of a request went (``resolve``, ``connect``, ``tls``,
``processing``, ``transfer``), so the probe needs the moments between them, which general
clients hide; and a probe opens a fresh connection every time (a kept-alive one would hide a
broken listener).  This module does exactly one exchange on a new connection: connect (to
the address already chosen, or through an HTTP proxy), TLS, request, status and headers, body
(Content-Length, chunked or to close), gzip/deflate decoding.  Redirects are the caller's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote

from guardia.probes.net import os_error_text

MAX_HEADER_BYTES = 1 << 20


class HTTPWireError(Exception):
    """The exchange failed; ``phase`` says where (connect, tls, request, response)."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase


@dataclass(slots=True)
class Timings:
    connect: float = 0.0
    tls: float = 0.0
    processing: float = 0.0
    transfer: float = 0.0


@dataclass(slots=True)
class Response:
    status: int
    version: str  # "HTTP/1.1"
    headers: list[tuple[str, str]]
    body: bytes
    content_length: int  # -1 when the server did not say
    tls: bool
    ssl_object: ssl.SSLObject | None = None
    timings: Timings = field(default_factory=Timings)

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = None


async def exchange(
    url: SplitResult,
    ip: str,
    *,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    tls_context: ssl.SSLContext | None = None,
    server_name: str | None = None,
    proxy: Proxy | None = None,
    body_limit: int = 0,
    timings: Timings | None = None,
) -> Response:
    """One request to ``url`` over a new connection to ``ip`` (or ``proxy``), timed.

    ``timings`` is filled as each phase ends, so a caller cut off by its deadline still
    knows how far the exchange got.
    """
    t = timings if timings is not None else Timings()
    https = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if https else 80)
    started = time.perf_counter()
    try:
        if proxy is not None:
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        else:
            reader, writer = await asyncio.open_connection(ip, port)
    except OSError as e:
        raise HTTPWireError("connect", f"connection to {ip if proxy is None else proxy.host}:"
                                       f"{port if proxy is None else proxy.port} failed: "
                                       f"{os_error_text(e)}") from None
    t.connect = time.perf_counter() - started
    try:
        if proxy is not None and https:
            await _connect_tunnel(reader, writer, host, port, proxy)
        sslobj: ssl.SSLObject | None = None
        if https:
            tls_started = time.perf_counter()
            ctx = tls_context or ssl.create_default_context()
            try:
                await writer.start_tls(ctx, server_hostname=server_name or host)
            except (ssl.SSLError, ssl.CertificateError) as e:
                t.tls = time.perf_counter() - tls_started
                raise HTTPWireError("tls", _tls_message(e, server_name or host)) from e
            t.tls = time.perf_counter() - tls_started
            sslobj = writer.get_extra_info("ssl_object")
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        if proxy is not None and not https:
            target = f"http://{url.netloc.rpartition('@')[2]}{target}"
        hdrs = list(headers or [])
        names = {k.lower() for k, _ in hdrs}
        default_port = 443 if https else 80
        if "host" not in names:
            netloc_host = f"[{host}]" if ":" in host else host
            hdrs.insert(0, ("Host", netloc_host if port == default_port else f"{netloc_host}:{port}"))
        if url.username is not None and "authorization" not in names:
            import base64
            cred = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
            hdrs.append(("Authorization", "Basic " + base64.b64encode(cred).decode()))
        if body or method in ("POST", "PUT", "PATCH"):
            hdrs.append(("Content-Length", str(len(body))))
        if proxy is not None and not https and proxy.authorization:
            hdrs.append(("Proxy-Authorization", proxy.authorization))
        hdrs.append(("Connection", "close"))
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        sent = time.perf_counter()
        try:
            await writer.drain()
            status, version, resp_headers = await _read_head(reader)
            while 100 <= status < 200 and status != 101:
                status, version, resp_headers = await _read_head(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            raise HTTPWireError("response", f"reading the response failed: {_oserr(e)}") from None
        first_byte = time.perf_counter()
        t.processing = first_byte - sent
        resp = Response(status, version, resp_headers, b"", -1, https, sslobj, t)
        cl = resp.header("Content-Length")
        if cl is not None and cl.strip().isdigit():
            resp.content_length = int(cl.strip())
        try:
            no_body = method == "HEAD" or status in (204, 304)
            raw = b"" if no_body else await _read_body(reader, resp, body_limit)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            raise HTTPWireError("response", f"reading the response body failed: {_oserr(e)}") from None
        try:
            resp.body = _decode(raw, resp.header("Content-Encoding"))
        except zlib.error as e:
            enc = resp.header("Content-Encoding")
            raise HTTPWireError("response", f"cannot decode the {enc} body: {e}") from None
        t.transfer = time.perf_counter() - first_byte
        return resp
    finally:
        writer.close()


def _oserr(e: BaseException) -> str:
    if isinstance(e, asyncio.IncompleteReadError):
        return "connection closed before the response was complete"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _tls_message(e: BaseException, host: str) -> str:
    from guardia.probes.tlsinfo import describe_ssl_error

    return describe_ssl_error(e, host)


async def _connect_tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          host: str, port: int, proxy: Proxy) -> None:
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    try:
        status, _, _ = await _read_head(reader)
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        raise HTTPWireError("connect", f"proxy CONNECT failed: {_oserr(e)}") from None
    if status != 200:
        raise HTTPWireError("connect",
                            f"proxy {proxy.host}:{proxy.port} refused CONNECT with status {status}")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    data = await reader.readuntil(b"\r\n\r\n")
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError("response headers too large")
    lines = data.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed status line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if sep:
            headers.append((k.strip(), v.strip()))
    return int(parts[1]), parts[0], headers


async def _read_body(reader: asyncio.StreamReader, resp: Response, limit: int) -> bytes:
    te = (resp.header("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
            total += size
            if limit and total > limit:
                raise ValueError(f"body larger than body_size_limit ({limit} bytes)")
        return b"".join(chunks)
    if resp.content_length >= 0:
        if limit and resp.content_length > limit:
            raise ValueError(f"body larger than body_size_limit ({limit} bytes)")
        return await reader.readexactly(resp.content_length)
    data = await reader.read(limit + 1 if limit else -1)
    if limit and len(data) > limit:
        raise ValueError(f"body larger than body_size_limit ({limit} bytes)")
    return data


def _decode(raw: bytes, encoding: str | None) -> bytes:
    if not encoding or not raw:
        return raw
    enc = encoding.strip().lower()
    if enc in ("gzip", "x-gzip"):
        return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    if enc == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:
            return zlib.decompress(raw, -zlib.MAX_WBITS)
    return raw
