"""The remote write POST client against a raw asyncio server that answers as real servers do:
content-length, chunked, connection close, and a kept-alive connection closed while idle."""

from __future__ import annotations

import asyncio

import pytest

from guardia.storage.remote.post_client import PostClient, PostError

ANSWERS = [
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nslow",
    b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n5\r\n labl\r\n0\r\n\r\n",
    b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
]


async def _serve(bodies: list[bytes], conns: list[int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(1)
        while bodies:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            bodies.append(await reader.readexactly(length))
            answer = ANSWERS[len(bodies) - 2] if len(bodies) - 2 < len(ANSWERS) else ANSWERS[0]
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer or len(bodies) == 6:
                break  # the 5th request's connection is closed by the server while idle
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_answers_of_every_shape_and_a_closed_idle_connection() -> None:
    bodies: list[bytes] = [b""]
    conns: list[int] = []
    server = await _serve(bodies, conns)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1/write"
    client = PostClient(url, {"Content-Type": "application/x-protobuf"}, None, 5)
    got = [await client.post(url, b"x" * n) for n in (1, 2, 3, 4, 5)]
    await asyncio.sleep(0.05)  # the server has closed the idle connection by now
    got.append(await client.post(url, b"last"))
    assert [r.status_code for r in got] == [204, 429, 400, 500, 204, 204]
    assert got[1].headers["retry-after"] == "3" and got[1].text == "slow"
    assert got[2].content == b"bad labl"
    assert bodies[1:] == [b"x", b"xx", b"xxx", b"xxxx", b"xxxxx", b"last"]
    assert len(conns) == 3  # reconnected after "Connection: close" and after the idle close
    await client.aclose()
    server.close()


async def test_nothing_listening_is_a_post_error() -> None:
    client = PostClient("http://127.0.0.1:9/x", {}, None, 2)
    with pytest.raises(PostError, match=r"127\.0\.0\.1:9"):
        await client.post("http://127.0.0.1:9/x", b"x")


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        PostClient("ftp://host/x", {}, None, 1)
