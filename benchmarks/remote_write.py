"""Remote write receiver throughput: samples/s accepted through POST /api/v1/write.

10,000 series, each request one remote-write batch of 2,000 samples (one sample per series,
as Prometheus sends them), snappy-compressed protobuf encoded beforehand by the protobuf
library.  120 rounds at 15 s: half an hour of data, so the run covers several head windows
being compressed and the one-off costs of new series (the head's label ordering) weigh
as little as they do in a server that has been up for a while.  The receiver runs in
uvicorn on 127.0.0.1 in its own process and appends to the embedded TSDB (WAL included);
the client posts the batches for a few seconds over 4 connections, as Prometheus's
remote-write shards do.
Also printed: the decode+append rate without HTTP.  The last line is the HTTP rate.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

import cramjam

from guardia.storage.remote import WriteReceiver
from guardia.storage.remote.decode import decompress
from guardia.storage.remote.proto import encode_write_request
from guardia.storage.tsdb import TSDB
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps

SERIES = 10_000
BATCH = 2_000
ROUNDS = 120
SECONDS = 5.0
T0 = 1_700_000_000_000


def build_payloads() -> list[bytes]:
    labels = [
        {
            "__name__": "http_requests_total",
            "job": "api",
            "instance": f"10.0.{i // 250}.{i % 250}:8080",
            "path": f"/r{i % 40}",
            "code": ("200", "500", "404")[i % 3],
        }
        for i in range(SERIES)
    ]
    out = []
    for r in range(ROUNDS):
        t = T0 + r * 15_000
        for b in range(0, SERIES, BATCH):
            series = [(labels[i], [(t, float(r * 10 + i % 7))]) for i in range(b, b + BATCH)]
            out.append(bytes(cramjam.snappy.compress_raw(encode_write_request(series))))
    return out


def bench_in_process(payloads: list[bytes]) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second) for decompress+decode+append."""
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d)
        rx = WriteReceiver(db)
        for p in payloads[: SERIES // BATCH]:  # first round creates the series
            rx.ingest(decompress(p))
        started, cpu = time.perf_counter(), time.process_time()
        n = 0
        for p in payloads[SERIES // BATCH :]:
            n += rx.ingest(decompress(p))
            if time.perf_counter() - started > SECONDS:
                break
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
        db.close()
    return n / elapsed, n / cpu_used


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(port: int, data_dir: str) -> None:
    """The receiver alone in this process (the benchmark's server side)."""
    import uvicorn

    db = TSDB.open(data_dir)
    app = create_app(AppDeps(api=ApiDeps(storage=db), write_storage=db))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _post_all(host: str, port: int, payloads: list[bytes], concurrency: int) -> tuple[float, int]:
    """A minimal keep-alive HTTP/1.1 client (raw asyncio streams) so the client's own cost
    stays small next to the server's; every response must be 204."""
    for _ in range(100):  # wait until the server listens
        try:
            _, w = await asyncio.open_connection(host, port)
            w.close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    requests = [
        (
            f"POST /api/v1/write HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Encoding: snappy\r\n"
            "Content-Type: application/x-protobuf\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n"
            f"Content-Length: {len(p)}\r\n\r\n"
        ).encode()
        + p
        for p in payloads
    ]
    # Shard as Prometheus does: a series always goes through the same connection, in order.
    # The shards also stay in step: Prometheus sends what it scraped in the last seconds, so
    # no shard is minutes of data ahead of another.  A request of round r waits until every
    # request of round r - 2 is acknowledged (at most a round of skew, 15 s of data); free
    # running shards would drift apart by many rounds and make the head reopen windows it
    # had already compressed, which a live sender never does.
    per_round = SERIES // BATCH
    shards = [
        [(i // per_round, r) for i, r in enumerate(requests) if (i % per_round) % concurrency == k][::-1]
        for k in range(concurrency)
    ]
    done = [0] * (len(requests) // per_round + 1)
    progressed = asyncio.Condition()
    sent = 0
    started = time.perf_counter()

    async def worker(queue: list[tuple[int, bytes]]) -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection(host, port)
        while queue and time.perf_counter() - started < SECONDS:
            rnd, req = queue.pop()
            if rnd >= 2:
                async with progressed:
                    await progressed.wait_for(lambda r=rnd - 2: done[r] == per_round)
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 204"):
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                raise SystemExit(f"write refused: {head.splitlines()[0]!r} {body!r}")
            sent += BATCH
            async with progressed:
                done[rnd] += 1
                progressed.notify_all()
        writer.close()

    await asyncio.gather(*(worker(q) for q in shards))
    return sent / (time.perf_counter() - started), sent


def bench_http(payloads: list[bytes], concurrency: int = 4) -> tuple[float, float]:
    """Server in its own process (as in production), client posting from this one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.remote_write", "--serve", str(port), d])
        try:
            warm = payloads[: SERIES // BATCH]
            asyncio.run(_post_all("127.0.0.1", port, warm, 1))  # create the series
            cpu = _cpu_seconds(proc.pid)
            rate, n = asyncio.run(_post_all("127.0.0.1", port, payloads[len(warm) :], concurrency))
            return rate, n / (_cpu_seconds(proc.pid) - cpu)
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    payloads = build_payloads()
    print(
        f"payloads: {len(payloads)} x {BATCH} samples, {sum(map(len, payloads)) / len(payloads):.0f} B each"
    )
    wall, cpu = bench_in_process(payloads)
    print(f"decode+append (no HTTP): {wall:,.0f} samples/s wall, {cpu:,.0f} samples per CPU-second")
    wall, cpu = bench_http(payloads)
    print(f"server CPU: {cpu:,.0f} samples per CPU-second of the guardia process")
    print(f"remote_write over HTTP, batches of {BATCH}: {wall:,.0f} samples/s")


if __name__ == "__main__":
    main()
