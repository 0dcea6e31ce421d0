"""Hostile targets: each fails only itself, with the reason (and line) as its last error."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from http.server import BaseHTTPRequestHandler

from prometheus_client import CollectorRegistry

from guardia.scrape.manager import ScrapeManager
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Handler, Sink, config, respond, select, wait_for

WIDE = "wide{" + ",".join(f'l{i}="v{i}"' for i in range(10_000)) + "} 1\n"


def _endless(req: BaseHTTPRequestHandler) -> None:
    req.send_response(200)
    req.send_header("Content-Type", "text/plain")
    req.send_header("Transfer-Encoding", "chunked")
    req.end_headers()
    chunk = b"x_total 1\n" * 1000
    for _ in range(100_000):
        req.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def _big_head(req: BaseHTTPRequestHandler) -> None:
    req.send_response(200)
    req.send_header("X-Padding", "p" * 70_000)  # one header line past the 64 KiB the head may take
    req.send_header("Content-Length", "4")
    req.end_headers()
    req.wfile.write(b"a 1\n")


def _endless_head(req: BaseHTTPRequestHandler) -> None:
    req.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for i in range(100_000):  # header lines and never the blank line that ends them
        req.wfile.write(b"X-More-%d: %s\r\n" % (i, b"m" * 1000))


def _slow(req: BaseHTTPRequestHandler) -> None:
    req.send_response(200)
    req.send_header("Content-Type", "text/plain")
    req.send_header("Content-Length", "100")
    req.end_headers()
    req.wfile.write(b"slow 1\n")
    req.wfile.flush()
    time.sleep(3)


def _reset(req: BaseHTTPRequestHandler) -> None:
    req.send_response(200)
    req.send_header("Content-Length", "1000")
    req.end_headers()
    req.wfile.write(b"partial 1\npart")
    req.wfile.flush()
    req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    req.wfile.close()
    req.rfile.close()
    req.connection.close()  # linger 0: the peer sees a reset, not a clean end


def _status_500(req: BaseHTTPRequestHandler) -> None:
    req.send_response(500)
    req.send_header("Content-Length", "0")
    req.end_headers()


def _gzip(req: BaseHTTPRequestHandler) -> None:
    body = gzip.compress(b"zipped 42\n")
    req.send_response(200)
    req.send_header("Content-Type", "text/plain; version=0.0.4")
    req.send_header("Content-Encoding", "gzip")
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    req.wfile.write(body)


def _gzip_bomb(req: BaseHTTPRequestHandler) -> None:
    body = gzip.compress(b"bomb_total 1\n" * 500_000)  # ~6.5 MB inflated, a few KB on the wire
    req.send_response(200)
    req.send_header("Content-Type", "text/plain; version=0.0.4")
    req.send_header("Content-Encoding", "gzip")
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    req.wfile.write(body)


HOSTILE: dict[str, tuple[Handler, str]] = {
    "gzip_bomb": (_gzip_bomb, "body size limit exceeded"),
    "garbage": (respond(b"ok 1\n\x00\x01\x02 garbage !!\n"), "line 2: expected a metric name"),
    "bad_utf8": (respond(b"ok 1\nbad{x=\"\xff\xfe\"} 1\n"), "line 2: invalid UTF-8"),
    "huge": (respond("big_total 1\n" * 200_000), "body size limit exceeded"),
    "endless": (_endless, "body size limit exceeded"),
    "big_head": (_big_head, "response headers larger than 64 KiB"),
    "endless_head": (_endless_head, "response headers larger than 64 KiB"),
    "slow": (_slow, "context deadline exceeded"),
    "reset": (_reset, "connection reset while reading the response"),
    "status": (_status_500, "server returned HTTP status 500"),
    "unterminated": (respond('ok 1\nx{a="1} 2\n'), "line 2:"),
    "wide_limit": (respond(WIDE), "label_limit exceeded"),
    "no_eof": (respond("a 1\n", "application/openmetrics-text; version=1.0.0"), "does not end with # EOF"),
}


async def test_each_hostile_target_fails_alone() -> None:
    sinks = {name: Sink(h) for name, (h, _) in HOSTILE.items()}
    escapes = 'esc{path="C:\\\\dir",msg="say \\"hi\\"\\nbye"} 1\n'
    good = Sink(respond("good_total 7\n" + escapes))
    zipped = Sink(_gzip)
    wide = Sink(respond(WIDE))
    jobs = "".join(
        f"  - job_name: {name}\n    static_configs: [{{targets: ['{s.address}']}}]\n"
        + ("    label_limit: 100\n" if name == "wide_limit" else "")
        for name, s in sinks.items()
    )
    text = (
        "global: {scrape_interval: 2s, scrape_timeout: 1s, body_size_limit: 1MB}\n"
        f"scrape_configs:\n{jobs}"
        f"  - job_name: good\n    static_configs: [{{targets: ['{good.address}', '{zipped.address}',"
        f" '{wide.address}']}}]\n"
    )
    storage = MemoryStorage()
    reg = CollectorRegistry()
    mgr = ScrapeManager(storage, reg, poll_interval=0.2)
    mgr.apply_config(config(text))
    task = asyncio.create_task(mgr.run())
    try:
        await wait_for(lambda: len(mgr.targets()) == len(HOSTILE) + 3
                       and all(t.health != "unknown" for t in mgr.targets()), timeout=15)
        by_job = {t.job: t for t in mgr.targets() if t.job != "good"}
        for name, (_, reason) in HOSTILE.items():
            t = by_job[name]
            assert t.health == "down", (name, t.last_error)
            assert reason in t.last_error, (name, t.last_error)
            (up,) = select(storage, __name__="up", job=name)
            assert set(up.values.tolist()) == {0.0}
            failed = reg.get_sample_value("guardia_target_scrapes_failed_total", {"scrape_job": name})
            assert (failed or 0) >= 1
        goods = [t for t in mgr.targets() if t.job == "good"]
        assert all(t.health == "up" for t in goods), [t.last_error for t in goods]
        (g,) = select(storage, __name__="good_total")
        assert g.values[0] == 7.0
        (e,) = select(storage, __name__="esc")
        assert e.labels.get("path") == "C:\\dir" and e.labels.get("msg") == 'say "hi"\nbye'
        (z,) = select(storage, __name__="zipped")
        assert z.values[0] == 42.0
        (w,) = select(storage, __name__="wide")
        assert len(w.labels) == 10_003
        assert not select(storage, __name__="partial") and not select(storage, __name__="ok")
    finally:
        await mgr.stop()
        task.cancel()
        for s in [*sinks.values(), good, zipped, wide]:
            s.close()
