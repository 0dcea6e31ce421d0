"""A small HTTP/1.1 client for scrapes: one kept-alive connection per target, GET only.

A scrape is always the same request to the same URL, so a general client (connection pools,
middleware, per-request objects) costs more CPU than the parse.  This one writes a prepared
request, reads the head with one ``readuntil``, the body by Content-Length, chunks or until
close, and inflates gzip with a size cap, so an oversized or endless body is cut at
``body_size_limit``.  Redirects are followed (up to 10) on a one-off connection.  Proxies are
not handled here: the loop uses httpx when ``proxy_url`` is set.

The socket is read by ``_Reader``, a buffered protocol: the kernel copies a response straight
into one buffer, sized for the body once its length is known, and the waiting fetch is woken
once what it waits for is there.  An ``asyncio`` stream would make a bytes object per read,
copy it into its own buffer and wake the reader on every read: about a fifth of a
scrape's fetch CPU at this size (a 160 KB body, 50 targets, measured in benchmarks/scrape_e2e).
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
# Unread bytes past which a connection stops reading from its socket until they are read (a
# body of known length is read whole whatever its size), and the longest chunk-size line.
_STREAM_LIMIT = 1 << 20
_MAX_REDIRECTS = 10


def _min_inflated(compressed: int) -> int:
    """A lower bound of what ``compressed`` gzip bytes inflate to: deflate never grows data by
    more than a few bytes per 16 KiB block, so a compressed body much larger than the limit
    is refused before it is inflated."""
    return int((compressed - 1024) / 1.01)


_MIN_READ = 1 << 16  # free room offered to each socket read
_SMALL = 1 << 12  # a reader's buffer between responses (the head of the next one fits)
# The most room set aside before a request for a response as long as the last one.
_RESERVE_MAX = 64 << 20


class _Reader(asyncio.BufferedProtocol):
    """The receiving side of one connection: ``readuntil``, ``readexactly`` and ``read`` as an
    ``asyncio.StreamReader`` has them (the same exceptions: ``IncompleteReadError`` at the end
    of the stream, ``LimitOverrunError``, the connection's error), over one buffer the socket
    reads into.

    The buffer grows to what a read waits for (a body of known length arrives in place) and
    shrinks back to ``_SMALL`` once a response is consumed, so an idle connection holds a
    few KiB, not its last body.  Reading pauses while more than ``_STREAM_LIMIT`` waits
    unread and no read waits for more (a target sending faster than its body is checked
    against a size cap)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray(_SMALL)
        self._start = 0  # unread bytes are _buf[_start:_end]
        self._end = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._want = 0  # unread bytes that wake the waiter
        self._paused = False
        self.taken = 0  # bytes handed out so far (a response's length is the difference)

    # -- the protocol's side ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        free = len(self._buf) - self._end
        need = self._want - (self._end - self._start)  # what the waiting read still lacks
        if free == 0 or (free < _MIN_READ // 4 and need > free):
            self._room(max(_MIN_READ, need))
        return memoryview(self._buf)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        unread = self._end - self._start
        if unread >= self._want:
            self._wake()
        if unread > _STREAM_LIMIT and unread >= self._want and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        if exc is not None:
            self._exc = exc
        self._wake()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self.transport = None

    _lost: asyncio.Future[None] | None = None

    async def wait_lost(self) -> None:
        """Until the transport has let the connection go (``close`` waits for it)."""
        if self.transport is None:
            return
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        await self._lost

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _room(self, need: int) -> None:
        """At least ``need`` free bytes after the unread ones (a new buffer: the transport may
        still hold a view of the old one)."""
        unread = self._end - self._start
        new = bytearray(unread + need)
        new[:unread] = memoryview(self._buf)[self._start : self._end]
        self._buf, self._start, self._end = new, 0, unread

    # -- the fetch's side ------------------------------------------------------------------

    async def _wait(self, want: int) -> None:
        """Until ``want`` bytes are unread, the stream ended or failed."""
        if self._exc is not None:
            raise self._exc
        if self._eof or self._end - self._start >= want:
            return
        self._want = want
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None
            self._want = 0
        if self._exc is not None:
            raise self._exc

    def reserve(self, size: int) -> None:
        """Room for ``size`` more bytes, set aside before a request is sent.

        A scrape's response is as long as the last one give or take a few bytes, and on a
        local or fast network all of it is in the socket by the time the loop looks.  With
        room for it, one socket read takes head and body and the fetch is woken once; with
        only the idle buffer's 4 KiB the first read stops inside the body, and the rest
        costs a copy of what was read into a body-sized buffer, a second read, a second
        wake-up of the fetch and another turn of the event loop (strace of
        benchmarks/scrape_e2e's load: 2 reads and 5 polls per scrape, 1 and 4 with the
        room).  The room is released with the response, as before, so an idle connection
        still holds 4 KiB."""
        if len(self._buf) - self._end < size:
            self._room(size)

    def _take(self, n: int) -> bytes:
        out = bytes(memoryview(self._buf)[self._start : self._start + n])
        self._start += n
        self.taken += n
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buf) > _SMALL:
                self._buf = bytearray(_SMALL)
        return out

    async def readuntil(self, sep: bytes, limit: int = _STREAM_LIMIT) -> bytes:
        """Up to and including ``sep``; ``LimitOverrunError`` when it is not within ``limit``
        bytes, ``IncompleteReadError`` (with what was there) when the stream ends first."""
        if self._exc is not None:
            raise self._exc
        searched = 0
        while True:
            i = self._buf.find(sep, self._start + searched, self._end)
            if i >= 0:
                n = i + len(sep) - self._start
                if n > limit:
                    raise asyncio.LimitOverrunError("separator found past the limit", n)
                return self._take(n)
            unread = self._end - self._start
            if unread > limit:
                raise asyncio.LimitOverrunError("separator not found within the limit", unread)
            if self._eof:
                if self._exc is not None:
                    raise self._exc
                raise asyncio.IncompleteReadError(self._take(unread), None)
            searched = max(0, unread - len(sep) + 1)
            await self._wait(unread + 1)

    async def readexactly(self, n: int) -> bytes:
        if self._exc is not None:
            raise self._exc
        if self._end - self._start < n:
            if len(self._buf) - self._start < n:  # room for all of it: it arrives in place
                self._room(max(n - (self._end - self._start), _MIN_READ))
            await self._wait(n)
            if self._end - self._start < n:
                raise asyncio.IncompleteReadError(self._take(self._end - self._start), n)
        return self._take(n)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes, at least one; b"" at the end of the stream."""
        if self._exc is not None:
            raise self._exc
        if self._end == self._start:
            await self._wait(1)
        return self._take(min(n, self._end - self._start))


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
        self._reader: _Reader | None = None
        self._writer: asyncio.Transport | None = None
        self._last_size = 0  # bytes of the last response read whole (head and body)

    def set_headers(self, headers: dict[str, str]) -> None:
        """Prepare the request bytes once; called again only when credentials change."""
        lines = [f"GET {self._path} HTTP/1.1", f"Host: {self._hostport}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._headers = headers

    async def close(self) -> None:
        w, r = self._writer, self._reader
        self._reader = self._writer = None
        if w is not None and r is not None:
            w.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await r.wait_lost()

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _connect(self) -> tuple[_Reader, asyncio.Transport]:
        server_hostname = None
        if self.https:
            server_hostname = self.server_name or self.host
        try:
            transport, reader = await asyncio.get_running_loop().create_connection(
                _Reader, self.host, self.port, ssl=self.ssl_context, server_hostname=server_hostname,
            )
        except ssl.SSLError as e:
            raise ScrapeError(f"TLS handshake failed: {e}") from None
        except OSError as e:
            raise ScrapeError(connect_failure(e, self.host)) from None
        return reader, transport

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
        start = self._reader.taken
        if self._last_size:
            # with slack: values change length from one scrape to the next
            self._reader.reserve(min(self._last_size + (self._last_size >> 4) + _SMALL, _RESERVE_MAX))
        try:
            self._writer.write(self._request)
            status, reason, headers = await self._read_head(self._reader)
        except ScrapeError as e:
            if not (reused and getattr(e, "fresh_retry", False)):
                raise
            # The server closed a kept-alive connection: retry once on a new one.
            self._drop()
            self._reader, self._writer = await self._connect()
            start = self._reader.taken
            self._writer.write(self._request)
            status, reason, headers = await self._read_head(self._reader)
        if status in (301, 302, 303, 307, 308) and self.follow_redirects and "location" in headers:
            self._drop()
            return await self._redirect(headers["location"])
        if status != 200:
            self._drop()
            raise ScrapeError(f"server returned HTTP status {status} {reason}".rstrip())
        reader = self._reader
        body, reusable = await self._read_body(reader, headers)
        self._last_size = reader.taken - start
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

    async def _read_head(self, reader: _Reader) -> tuple[int, str, dict[str, str]]:
        try:
            head = await reader.readuntil(b"\r\n\r\n", _MAX_HEAD)
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

    async def _read_body(self, reader: _Reader, headers: dict[str, str]) -> tuple[bytes, bool]:
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

    async def _read_chunked(self, reader: _Reader, gz: bool) -> bytes:
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

    async def _read_to_eof(self, reader: _Reader, gz: bool) -> bytes:
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
