"""The scrape client's buffered reader against a real local server: bodies of every framing
and size arrive whole, a kept-alive connection serves scrape after scrape, and an idle
connection keeps a few KiB, not its last body."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from guardia.scrape.http import _SMALL, _STREAM_LIMIT, HTTPScraper
from guardia.scrape.ingest import ScrapeError
from tests.scrape.helpers import Sink

# Larger than the pause mark (the reader stops reading at _STREAM_LIMIT unread bytes).
BIG = b"".join(b"m%d{i=\"%s\"} %d\n" % (i, os.urandom(8).hex().encode(), i) for i in range(80_000))


def _body(framing: str, body: bytes) -> Sink:
    def handler(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "text/plain")
        if framing == "length":
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
        elif framing == "gzip":
            z = gzip.compress(body)
            req.send_header("Content-Encoding", "gzip")
            req.send_header("Content-Length", str(len(z)))
            req.end_headers()
            req.wfile.write(z)
        elif framing == "chunked":
            req.send_header("Transfer-Encoding", "chunked")
            req.end_headers()
            for i in range(0, len(body), 7_000):
                part = body[i : i + 7_000]
                req.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            req.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
        else:  # until the connection closes
            req.send_header("Connection", "close")
            req.end_headers()
            req.wfile.write(body)
            req.close_connection = True

    return Sink(handler)


@pytest.mark.parametrize("framing", ["length", "gzip", "chunked", "close"])
@pytest.mark.parametrize("body", [b"", b"a 1\n", BIG], ids=["empty", "one-line", "big"])
async def test_every_framing_and_size_arrives_whole_scrape_after_scrape(framing: str, body: bytes) -> None:
    assert len(BIG) > 2 * _STREAM_LIMIT
    sink = _body(framing, body)
    http = HTTPScraper(f"http://{sink.address}/metrics", {"Accept": "text/plain"})
    try:
        for _ in range(3):
            got, ctype = await http.get()
            assert got == body and type(got) is bytes
            assert ctype == "text/plain"
            # Between scrapes the connection keeps a small buffer, not the last body.
            reader = http._reader
            if reader is not None:
                assert len(reader._buf) <= _SMALL
    finally:
        await http.close()
        sink.close()
    # A kept-alive connection served all three (one closed after each gives three).
    assert len(sink.requests) == 3


async def test_a_body_past_the_limit_is_refused_while_it_streams() -> None:
    sink = _body("close", BIG)
    http = HTTPScraper(f"http://{sink.address}/metrics", {}, body_size_limit=100_000)
    try:
        with pytest.raises(ScrapeError, match="body size limit exceeded"):
            await http.get()
        assert http._reader is None  # a half-read connection is dropped
    finally:
        await http.close()
        sink.close()


async def test_room_for_a_response_like_the_last_is_offered_before_the_request() -> None:
    """From the second scrape on, the socket's first read is offered room for the whole
    response (head and body, as long as the last one give or take its values), so a body
    already in the socket is read at once; bodies that grow past that room, shrink, or come
    in other framings still arrive whole, and the room goes with the response."""
    sizes = [160_000, 160_300, 159_900, 700_000, 12, 160_000]
    bodies = [(b"x %d\n" % i) * (n // len(b"x %d\n" % i)) for i, n in enumerate(sizes)]
    served = iter(bodies)

    def handler(req: BaseHTTPRequestHandler) -> None:
        body = next(served)
        req.send_response(200)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    sink = Sink(handler)
    http = HTTPScraper(f"http://{sink.address}/metrics", {})
    offered: list[int] = []
    try:
        for i, body in enumerate(bodies):
            got, _ = await http.get()
            assert got == body and type(got) is bytes
            reader = http._reader
            assert reader is not None and len(reader._buf) <= _SMALL
            if i == 0:
                reader.get_buffer = _watched(reader.get_buffer, offered)  # type: ignore[method-assign]
            elif i in (1, 2):  # a response about as long as the one before
                assert offered[0] >= len(body) + 40, (i, offered)
            offered.clear()
    finally:
        await http.close()
        sink.close()
    assert len(sink.requests) == len(bodies)  # one kept-alive connection throughout


def _watched(get_buffer: Callable[[int], memoryview], offered: list[int]) -> Callable[[int], memoryview]:
    """``get_buffer`` noting how much room each socket read is offered."""

    def watch(sizehint: int) -> memoryview:
        view = get_buffer(sizehint)
        offered.append(len(view))
        return view

    return watch
