"""A small HTTP/1.1 server for an ASGI application: what ``guardia serve --agent`` listens with.

uvicorn, with what it imports (click, httptools, multiprocessing, logging.config), is about
2.5 MiB resident in every agent, and an agent answers a few requests a minute: its own
``/metrics`` scraped, health and readiness checks, a reload, a probe.  This server is asyncio
streams and the ASGI calls those requests need, for the same application (the agent's routes
behind the auth middleware), so the answers are the ones uvicorn gave:

- HTTP/1.1 keep-alive (idle connections closed after ``keepalive_s``, as uvicorn's 5 s) and
  HTTP/1.0 (one request per connection);
- request bodies by ``Content-Length`` or chunked, ``Expect: 100-continue`` answered;
- responses with a ``Content-Length`` written as they are, streamed ones chunked, none to HEAD;
- an application that fails before answering gets a 500 (and the traceback is logged), one that
  fails midway has its connection closed; a request that is not HTTP gets a 400, a header block
  over ``max_head`` bytes a 431, and the connection is closed;
- on stop (``should_exit``) it accepts no more connections, closes idle ones and gives the
  requests in flight ``graceful_s`` to finish.

Full mode keeps uvicorn: WebSockets (the live log tail), many concurrent clients, its C parser.
HTTPS in either mode is ``guardia.web.auth.tls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("guardia.web.http")

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]


class BadRequest(ValueError):
    """The bytes on the connection are not an HTTP/1.x request this server takes."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """One parsed request head: method, target split into path and query, headers."""

    __slots__ = ("headers", "method", "query", "raw_path", "version")

    def __init__(self, method: str, raw_path: bytes, query: bytes, version: str,
                 headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.raw_path = raw_path
        self.query = query
        self.version = version
        self.headers = headers

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


def parse_head(head: bytes) -> Request:
    """The request line and headers (``head`` ends with the blank line)."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper():
        raise BadRequest("invalid request line")
    method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise BadRequest(f"unsupported HTTP version {version[:16]!r}",
                         505 if version.startswith(b"HTTP/") else 400)
    if target.startswith((b"http://", b"https://")):  # absolute form: keep the path part
        slash = target.find(b"/", target.index(b"//") + 2)
        target = target[slash:] if slash >= 0 else b"/"
    if not target.startswith(b"/") and not (method == b"OPTIONS" and target == b"*"):
        raise BadRequest("invalid request target")
    raw_path, _, query = target.partition(b"?")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            raise BadRequest("invalid header line")
        headers.append((name.lower(), value.strip()))
    return Request(method.decode("ascii"), raw_path, query, version.decode("ascii"), headers)


async def read_body(reader: asyncio.StreamReader, req: Request) -> bytes:
    """The request's body: by Content-Length, chunked, or none."""
    te = req.header(b"transfer-encoding")
    if te is not None:
        if te.lower() != b"chunked":
            raise BadRequest(f"unsupported Transfer-Encoding {te[:32]!r}", 501)
        out = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("invalid chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers: not passed on
                return bytes(out)
            out += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise BadRequest("chunk not followed by CRLF")
    length = req.header(b"content-length")
    if length is None:
        return b""
    if not length.isdigit():
        raise BadRequest("invalid Content-Length")
    return await reader.readexactly(int(length))


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


def _date() -> bytes:
    return time.strftime("date: %a, %d %b %Y %H:%M:%S GMT\r\n", time.gmtime()).encode("ascii")


class SmallServer:
    """Serves ``app`` on the sockets given to ``serve`` until ``should_exit`` is set."""

    def __init__(self, app: ASGIApp, *, keepalive_s: float = 5.0, graceful_s: float = 3.0,
                 max_head: int = 64 * 1024) -> None:
        self.app = app
        self.keepalive_s = keepalive_s
        self.graceful_s = graceful_s
        self.max_head = max_head
        self.started = False
        self.should_exit = False
        self._conns: dict[asyncio.Task[None], bool] = {}  # connection task -> a request in flight

    async def serve(self, sockets: list[socket.socket]) -> None:
        servers = [await asyncio.start_server(self._connection, sock=s, limit=self.max_head)
                   for s in sockets]
        self.started = True
        try:
            while not self.should_exit:
                await asyncio.sleep(0.1)
        finally:
            for srv in servers:
                srv.close()
            await self._drain()

    async def _drain(self) -> None:
        """Idle connections are closed now; requests in flight get ``graceful_s``."""
        for task, busy in list(self._conns.items()):
            if not busy:
                task.cancel()
        deadline = time.monotonic() + self.graceful_s
        while self._conns and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=1)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns[task] = False
        client = writer.get_extra_info("peername")
        server = writer.get_extra_info("sockname")
        try:
            while not self.should_exit:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.keepalive_s)
                except asyncio.LimitOverrunError:
                    await _refuse(writer, 431, "request header fields too large")
                    return
                except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                    return
                self._conns[task] = True
                try:
                    if not await self._request(head, reader, writer, client, server):
                        return
                except ConnectionError:
                    return  # the client went away while its answer was written
                self._conns[task] = False
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.pop(task, None)
            with contextlib.suppress(Exception):
                writer.close()

    async def _request(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       client: Any, server: Any) -> bool:
        """Serve one request; whether the connection can take another."""
        try:
            req = parse_head(head)
            if (req.header(b"expect") or b"").lower() == b"100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            body = await read_body(reader, req)
        except BadRequest as e:
            await _refuse(writer, e.status, str(e))
            return False
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return False
        conn = (req.header(b"connection") or b"").lower()
        keep = conn != b"close" if req.version == "HTTP/1.1" else False
        scope: MutableMapping[str, Any] = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": req.version[5:], "method": req.method, "scheme": "http",
            "path": unquote(req.raw_path.decode("latin-1")), "raw_path": req.raw_path,
            "query_string": req.query, "root_path": "", "headers": req.headers,
            "client": tuple(client[:2]) if client else None,
            "server": tuple(server[:2]) if server else None, "state": {},
        }
        answer = _Answer(writer, req.method == "HEAD", keep)
        done = asyncio.Event()
        body_given = False

        async def receive() -> Message:
            nonlocal body_given
            if not body_given:
                body_given = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        try:
            await self.app(scope, receive, answer.send)
        except (ConnectionError, asyncio.IncompleteReadError):
            return False  # the client went away
        except Exception:
            log.exception("event=http_request_failed method=%s path=%s", req.method, scope["path"])
            if answer.started:
                return False
            answer.keep = False
            await answer.send({"type": "http.response.start", "status": 500,
                               "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await answer.send({"type": "http.response.body", "body": b"Internal Server Error"})
        finally:
            done.set()
        if not answer.finished:
            if answer.started:
                return False  # the app stopped midway: the response cannot be completed
            await answer.send({"type": "http.response.start", "status": 500, "headers": []})
            await answer.send({"type": "http.response.body", "body": b""})
        return answer.keep


class _Answer:
    """The ASGI ``send`` of one request: a head buffered until the first body part, then the
    body as it is (with its Content-Length) or chunked."""

    def __init__(self, writer: asyncio.StreamWriter, head_only: bool, keep: bool) -> None:
        self.writer = writer
        self.head_only = head_only
        self.keep = keep
        self.started = False
        self.finished = False
        self._chunked = False
        self._head = b""

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            status = int(message["status"])
            headers = list(message.get("headers", ()))
            names = {bytes(k).lower() for k, _ in headers}
            no_body = status in (204, 304) or status < 200
            self._chunked = not no_body and b"content-length" not in names and not self.head_only
            out = [_status_line(status), _date()]
            out += [bytes(k) + b": " + bytes(v) + b"\r\n" for k, v in headers]
            if self._chunked:
                out.append(b"transfer-encoding: chunked\r\n")
            if not self.keep:
                out.append(b"connection: close\r\n")
            out.append(b"\r\n")
            self._head = b"".join(out)
        elif kind == "http.response.body":
            if not self.started or self.finished:
                raise RuntimeError("http.response.body outside a response")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            data = self._head
            self._head = b""
            if not self.head_only:
                if self._chunked:
                    if body:
                        data += f"{len(body):x}\r\n".encode() + body + b"\r\n"
                    if not more:
                        data += b"0\r\n\r\n"
                else:
                    data += body
            if data:
                self.writer.write(data)
                await self.writer.drain()
            self.finished = not more


async def _refuse(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    with contextlib.suppress(ConnectionError):
        writer.write(_status_line(status) + _date() + b"content-type: text/plain; charset=utf-8\r\n"
                     + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        await writer.drain()
