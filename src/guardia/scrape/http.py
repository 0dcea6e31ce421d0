"""A small HTTP/1.1 client for scrapes: one kept-alive connection per target, GET only.

A scrape is always the same request to the same URL, so a general client (connection pools,
middleware, per-request objects) costs more CPU than the parse.  This one writes a prepared
request, reads the head with one ``readuntil``, the body by Content-Length, chunks or until
close, and inflates gzip with a size cap, so an oversized or endless body is cut at
``body_size_limit``.  Redirects are followed (up to 10) on a one-off connection.  Proxies are
not handled here: the loop uses httpx when ``proxy_url`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import zlib
from urllib.parse import urljoin, urlsplit

from guardia.scrape.ingest import ScrapeError

# What resolvers say when a name does not exist (glibc, musl, macOS), for errors that reach us
# only as text (httpx wraps the socket error in its own).
_NO_SUCH_NAME = ("Name or service not known", "nodename nor servname", "No address associated",
                 "Temporary failure in name resolution", "No such host", "Name does not resolve")


def connect_failure(err: BaseException, host: str | None = None) -> str:
    """Why a connection failed, in the words that point at the fix: a host name that does not
    resolve is a typo or a DNS problem, not a target that is down."""
    causes: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and len(causes) < 8:
        causes.append(e)
        e = e.__cause__ or e.__context__
    text = " ".join(str(c) for c in causes)
    if any(isinstance(c, socket.gaierror) for c in causes) or any(n.lower() in text.lower()
                                                                 for n in _NO_SUCH_NAME):
        name = f" {host!r}" if host else ""
        detail = next((c.strerror for c in causes if isinstance(c, socket.gaierror) and c.strerror), None)
        return (f"name not found: the host name{name} does not resolve "
                f"({detail or text.strip() or 'DNS lookup failed'}); check the spelling or the DNS")
    detail = next((c.strerror for c in causes if isinstance(c, OSError) and c.strerror), None) or str(err)
    return f"connection failed (is the target listening?): {detail}" if detail else \
        "connection failed (is the target listening?)"

_MAX_HEAD = 64 * 1024
# The stream's buffer limit.  asyncio pauses reading whenever its buffer holds more than twice
# this, and a body larger than that (most scrapes) then costs a pause and a resume of the
# socket (two epoll changes and a loop turn) on every scrape; the head's own limit is checked
# on what ``readuntil`` returns.
_STREAM_LIMIT = 1 << 20
_MAX_REDIRECTS = 10


def _min_inflated(compressed: int) -> int:
    """A lower bound of what ``compressed`` gzip bytes inflate to: deflate never grows data by
    more than a few bytes per 16 KiB block, so a compressed body much larger than the limit
    is refused before it is inflated."""
    return int((compressed - 1024) / 1.01)


class HTTPScraper:
    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        body_size_limit: int = 0,
        follow_redirects: bool = True,
    ) -> None:
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.ssl_context = ssl_context if self.https else None
        self.server_name = server_name
        self.body_size_limit = body_size_limit
        self.follow_redirects = follow_redirects
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        self._path = path
        self._hostport = parts.netloc.rsplit("@", 1)[-1]
        self.set_headers(headers)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def set_headers(self, headers: dict[str, str]) -> None:
        """Prepare the request bytes once; called again only when credentials change."""
        lines = [f"GET {self._path} HTTP/1.1", f"Host: {self._hostport}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._headers = headers

    async def close(self) -> None:
        w = self._writer
        self._reader = self._writer = None
        if w is not None:
            w.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await w.wait_closed()

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        server_hostname = None
        if self.https:
            server_hostname = self.server_name or self.host
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl_context, server_hostname=server_hostname,
                limit=_STREAM_LIMIT,
            )
        except ssl.SSLError as e:
            raise ScrapeError(f"TLS handshake failed: {e}") from None
        except OSError as e:
            raise ScrapeError(connect_failure(e, self.host)) from None
        return reader, writer

    async def get(self) -> tuple[bytes, str]:
        """Body (decoded from gzip) and Content-Type; ``ScrapeError`` saying why on failure."""
        try:
            return await self._get()
        except BaseException:
            self._drop()  # a half-read response leaves the connection unusable
            raise

    async def _get(self) -> tuple[bytes, str]:
        reused = self._writer is not None
        if not reused:
            self._reader, self._writer = await self._connect()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(self._request)
            status, reason, headers = await self._read_head(self._reader)
        except ScrapeError as e:
            if not (reused and getattr(e, "fresh_retry", False)):
                raise
            # The server closed a kept-alive connection: retry once on a new one.
            self._drop()
            self._reader, self._writer = await self._connect()
            self._writer.write(self._request)
            status, reason, headers = await self._read_head(self._reader)
        if status in (301, 302, 303, 307, 308) and self.follow_redirects and "location" in headers:
            self._drop()
            return await self._redirect(headers["location"])
        if status != 200:
            self._drop()
            raise ScrapeError(f"server returned HTTP status {status} {reason}".rstrip())
        body, reusable = await self._read_body(self._reader, headers)
        if not reusable:
            self._drop()
        return body, headers.get("content-type", "")

    async def _redirect(self, location: str) -> tuple[bytes, str]:
        """Follow a redirect on a one-off connection (the kept one stays for our own URL)."""
        if self._depth >= _MAX_REDIRECTS:
            raise ScrapeError(f"stopped after {_MAX_REDIRECTS} redirects")
        other = HTTPScraper(
            urljoin(self.url, location), self._headers,
            ssl_context=self.ssl_context or ssl.create_default_context(),
            server_name=self.server_name, body_size_limit=self.body_size_limit,
        )
        other._depth = self._depth + 1
        try:
            return await other.get()
        finally:
            await other.close()

    _depth = 0

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            err = ScrapeError(
                "connection closed before the response headers"
                if e.partial else "connection closed by the target without a response"
            )
            err.fresh_retry = not e.partial  # type: ignore[attr-defined]
            raise err from None
        except asyncio.LimitOverrunError:
            raise ScrapeError("response headers larger than 64 KiB") from None
        except (ConnectionError, OSError) as e:
            err = ScrapeError(f"connection reset while reading the response: {e}")
            err.fresh_retry = True  # type: ignore[attr-defined]
            raise err from None
        if len(head) > _MAX_HEAD:
            raise ScrapeError("response headers larger than 64 KiB")
        text = head.decode("latin-1")
        status_line, _, rest = text.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ScrapeError(f"the target did not answer with HTTP (got {status_line[:40]!r})")
        headers: dict[str, str] = {}
        for line in rest.split("\r\n"):
            if not line:
                continue
            k, sep, v = line.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        if parts[0] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            headers.setdefault("connection", "close")
        return int(parts[1]), parts[2] if len(parts) > 2 else "", headers

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[bytes, bool]:
        limit = self.body_size_limit
        gz = headers.get("content-encoding", "").lower() == "gzip"
        reusable = headers.get("connection", "").lower() != "close"
        raw: bytes
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                raw = await self._read_chunked(reader, gz)
            elif "content-length" in headers:
                try:
                    n = int(headers["content-length"])
                except ValueError:
                    raise ScrapeError(f"invalid Content-Length {headers['content-length']!r}") from None
                if limit and not gz and n > limit:
                    raise ScrapeError(f"body size limit exceeded (limit: {limit} bytes, Content-Length: {n})")
                raw = await reader.readexactly(n)
            else:
                raw = await self._read_to_eof(reader, gz)
                reusable = False
        except asyncio.IncompleteReadError:
            raise ScrapeError("connection reset while reading the response body") from None
        except (ConnectionError, OSError) as e:
            raise ScrapeError(f"connection reset while reading the response body: {e}") from None
        if gz:
            return self._inflate(raw), reusable
        return raw, reusable

    def _cap(self, size: int) -> None:
        if self.body_size_limit and size > self.body_size_limit:
            raise ScrapeError(f"body size limit exceeded (limit: {self.body_size_limit} bytes)")

    async def _read_chunked(self, reader: asyncio.StreamReader, gz: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                n = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ScrapeError("malformed chunked encoding from the target") from None
            if n == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                break
            size += n
            if not gz:
                self._cap(size)
            elif self.body_size_limit:
                self._cap(_min_inflated(size))
            chunks.append(await reader.readexactly(n))
            await reader.readexactly(2)
        return b"".join(chunks)

    async def _read_to_eof(self, reader: asyncio.StreamReader, gz: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            self._cap(_min_inflated(size) if gz else size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _inflate(self, raw: bytes) -> bytes:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        limit = self.body_size_limit
        try:
            out = d.decompress(raw, limit + 1 if limit else 0)
        except zlib.error as e:
            raise ScrapeError(f"invalid gzip body: {e}") from None
        if limit and (len(out) > limit or d.unconsumed_tail):
            raise ScrapeError(f"body size limit exceeded (limit: {limit} bytes)")
        return out
