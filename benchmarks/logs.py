"""Log store figures: push ingestion, stored bytes per raw byte, line-filter scan rate.

1. Push: ~200-byte nginx access lines (200,000 distinct) in JSON pushes of 1,000 lines (10
   streams of 100, as Promtail batches them) through ``POST /loki/api/v1/push`` on a uvicorn in its own
   process, WAL included; bodies are encoded before the clock starts; 2 keep-alive
   connections from stdlib ``http.client`` threads (a client far cheaper than the server).
2. Stored bytes per raw byte: nginx access logs (a few thousand client IPs, real-looking paths,
   user agents, status codes and sizes, one line every few ms) cut into chunks on disk, at rest
   (after the compaction that recompresses chunks cut at the fast ingest level).
3. Scan: ``count_over_time({job="nginx"} |= "500" [...])`` over ~1 GB of stored raw text,
   every chunk read from disk and decompressed (the chunk cache is far smaller than the data),
   in CPU seconds of this process.
The last line is the scan rate.
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import orjson

from guardia.logs import LogStore, PushStream, StoreOptions
from guardia.logs.logql import LogQLEngine, MatrixResult
from guardia.model import Labels

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
PATHS = ["/", "/api/orders", "/api/orders/{id}", "/api/users/{id}", "/login", "/static/app.{h}.js",
         "/static/style.{h}.css", "/health", "/api/search?q={q}", "/images/p{id}.jpg", "/favicon.ico"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.4.0", "Prometheus/2.42.0", "python-requests/2.31.0", "Go-http-client/1.1",
]
STATUS = ["200"] * 90 + ["304"] * 4 + ["404"] * 3 + ["500"] * 2 + ["502"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def nginx_lines(n: int, start_ns: int, rng: random.Random) -> tuple[list[int], list[bytes]]:
    """``n`` combined-format access lines, one every 0-9 ms from ``start_ns``."""
    ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
           for _ in range(3000)]
    gaps = np.random.default_rng(rng.randint(0, 1 << 30)).integers(0, 10_000_000, n)
    ts = (start_ns + np.cumsum(gaps)).tolist()
    out: list[bytes] = []
    for t in ts:
        sec = t // NS
        tm = time.gmtime(sec)
        path = rng.choice(PATHS).format(id=rng.randint(1, 99999), h=f"{rng.getrandbits(32):08x}",
                                        q=rng.choice(["shoes", "red+dress", "laptop", "phone"]))
        status = rng.choice(STATUS)
        size = 0 if status == "304" else rng.randint(200, 60000)
        method = "GET" if rng.random() < 0.85 else "POST"
        out.append(
            f'{rng.choice(ips)} - - [{tm.tm_mday:02d}/{MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:'
            f'{tm.tm_min:02d}:{tm.tm_sec:02d} +0000] "{method} {path} HTTP/1.1" {status} {size} '
            f'"https://shop.example.com/" "{rng.choice(AGENTS)}" {rng.randint(1, 900) / 1000:.3f}'.encode())
    return ts, out


# ---------------------------------------------------------------- 1. push over HTTP

SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from guardia.logs import LogStore
from guardia.web.loki_api import LokiApi
store = LogStore(sys.argv[1])
app = Starlette(routes=LokiApi(store).routes())
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_push(seconds: float = 6.0) -> tuple[float, float]:
    """(lines/s over HTTP, server CPU µs per line)."""
    import httpx

    rng = random.Random(1)
    # distinct lines (a pool far larger than a chunk: compression sees what a live sender's
    # lines give it, not repeats)
    _, pool = nginx_lines(200_000, T0, rng)
    texts = [ln.decode()[:200].ljust(200) for ln in pool]
    bodies: list[bytes] = []
    t = T0
    # enough distinct bodies that every push carries newer timestamps than the last, as a
    # live sender's do (a repeated body would be out-of-order data, a slower path)
    for b in range(1000):
        streams = []
        for s in range(10):
            base = (b * 1000 + s * 100) % (len(texts) - 100)
            streams.append({"stream": {"job": "nginx", "host": f"web{s}"},
                            "values": [[str(t + i * 1000), texts[base + i]] for i in range(100)]})
        t += 100 * 1000
        bodies.append(orjson.dumps({"streams": streams}))
    with tempfile.TemporaryDirectory() as d:
        port = _free_port()
        env = dict(os.environ)
        proc = subprocess.Popen([sys.executable, "-c", SERVER, d, str(port)], env=env)
        try:
            url = f"http://127.0.0.1:{port}/loki/api/v1/push"
            for _ in range(100):
                try:
                    httpx.post(url, content=bodies[0], headers={"Content-Type": "application/json"})
                    break
                except httpx.TransportError:
                    time.sleep(0.1)

            def run() -> int:
                # stdlib keep-alive connections, one per thread: the client must cost far less
                # CPU than the server it measures, and both share this machine's two cores
                sent = [0, 0]
                stop = time.perf_counter() + seconds

                def worker(k: int) -> None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    i = k
                    while time.perf_counter() < stop:
                        conn.request("POST", "/loki/api/v1/push", body=bodies[i % len(bodies)],
                                     headers={"Content-Type": "application/json"})
                        r = conn.getresponse()
                        r.read()
                        assert r.status == 204, r.status
                        sent[k] += 1000
                        i += 2
                    conn.close()

                threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                return sum(sent)

            cpu0 = _cpu_seconds(proc.pid)
            t0 = time.perf_counter()
            sent = run()
            wall = time.perf_counter() - t0
            cpu = _cpu_seconds(proc.pid) - cpu0
        finally:
            proc.terminate()
            proc.wait(10)
    return sent / wall, cpu / sent * 1e6


# ---------------------------------------------------------------- 2. bytes per raw byte


def bench_ratio(n: int = 400_000) -> tuple[float, float]:
    """(stored bytes per raw byte at rest, after compaction; the same just after the cut, with
    chunks still at the fast ingest level)."""
    rng = random.Random(2)
    with tempfile.TemporaryDirectory() as d:
        store = LogStore(d)
        t = T0
        raw = 0
        for _ in range(n // 10_000):
            ts, lines = nginx_lines(10_000, t, rng)
            t = ts[-1]
            raw += sum(map(len, lines))
            store.push([PushStream(Labels({"job": "nginx", "host": "web1"}), ts, lines)])
        store.flush()
        fast = store.disk_bytes()
        store.compact()
        store.close()
        disk = LogStore(d).disk_bytes()
    return disk / raw, fast / raw


# ---------------------------------------------------------------- 3. scan


def bench_scan(target_bytes: int = 1 << 30) -> tuple[float, int, int]:
    """(raw MB/s per CPU second, raw bytes scanned, matching lines)."""
    rng = random.Random(3)
    # a pool of generated lines reused with fresh timestamps: generating 1 GB line by line
    # would take minutes; chunks still hold varied text (the pool is larger than a chunk)
    _, pool = nginx_lines(200_000, T0, rng)
    with tempfile.TemporaryDirectory() as d:
        store = LogStore(d, StoreOptions(cache_bytes=32 << 20))
        raw = 0
        t = T0
        batch = 20_000
        i = 0
        labels = Labels({"job": "nginx", "host": "web1"})
        while raw < target_bytes:
            start = (i * 7919) % (len(pool) - batch)
            lines = pool[start:start + batch]
            ts = (t + np.arange(1, batch + 1, dtype=np.int64) * 2_000_000).tolist()
            t = ts[-1]
            store.push([PushStream(labels, ts, lines)])
            raw += sum(map(len, lines))
            i += 1
        store.flush()
        store.compact()  # as stored logs are at rest
        engine = LogQLEngine(store)
        span = t - T0 + NS
        q = f'count_over_time({{job="nginx"}} |= "500" [{span // NS}s])'
        c0 = time.process_time()
        res = engine.query_instant(q, t + 1)
        cpu = time.process_time() - c0
        assert isinstance(res, MatrixResult)
        matches = int(np.nansum(res.values))
        store.close()
    return raw / cpu / 1e6, raw, matches


def bench_stages(rounds: int = 3) -> dict[str, float]:
    """Server CPU µs per line of each ingest stage, in this process (``--stages``): JSON decode,
    store push (WAL + heads), head cut, and compression at the cut level (in the store's
    background thread when serving)."""
    from guardia.logs import chunk as chunkfmt
    from guardia.logs.push import decode_push

    rng = random.Random(1)
    # every line distinct (as compression sees a live sender's), 200 bytes
    _, pool = nginx_lines(200_000, T0, rng)
    texts = [ln.decode()[:200].ljust(200) for ln in pool]
    bodies = []
    t = T0
    for b in range(200):
        streams = [{"stream": {"job": "nginx", "host": f"web{s}"},
                    "values": [[str(t + i * 1000), texts[b * 1000 + s * 100 + i]]
                               for i in range(100)]} for s in range(10)]
        t += 100 * 1000
        bodies.append(orjson.dumps({"streams": streams}))
    n = len(bodies) * 1000
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, 1e9), seconds / n * 1e6)

    for _ in range(rounds):
        c0 = time.process_time()
        decoded = [decode_push(b, "application/json") for b in bodies]
        keep("json decode", time.process_time() - c0)
        with tempfile.TemporaryDirectory() as d:
            store = LogStore(d, StoreOptions(chunk_target_bytes=1 << 40))
            c0 = time.process_time()
            for streams in decoded:
                store.push(streams)
            keep("store push", time.process_time() - c0)
            c0 = time.process_time()
            pieces = []
            for s in list(store._by_labels.values()):
                view = s.head_lines_view()
                sizes = np.cumsum(view.sizes())
                start = 0
                while start < len(view):
                    base = int(sizes[start - 1]) if start else 0
                    stop = max(int(np.searchsorted(sizes, base + (2 << 20), side="right")), start + 1)
                    pieces.append(view.take(np.arange(start, min(stop, len(view)))))
                    start = stop
            keep("head cut", time.process_time() - c0)
            for level in (store.opts.cut_level, chunkfmt.LEVEL):
                c0 = time.process_time()
                for p in pieces:
                    chunkfmt.encode_lines(p, level)
                keep(f"zstd level {level}", time.process_time() - c0)
            store.opts.chunk_target_bytes = 2 << 20
            store.close()
    return best


def main() -> None:
    if "--stages" in sys.argv:
        for name, us in bench_stages().items():
            print(f"{name}: {us:.2f} µs/line")
        return
    rate, us = bench_push()
    print(f"push: {rate:,.0f} lines/s over HTTP (200-byte lines, 1,000 per push, 2 connections); "
          f"server CPU {us:.2f} µs/line; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ratio, fast = bench_ratio()
    print(f"stored bytes per raw byte, nginx access logs: {ratio:.4f} at rest after compaction "
          f"({fast:.4f} right after the cut, at the fast ingest level)")
    mbps, raw, matches = bench_scan()
    print(f'scan {{job="nginx"}} |= "500": {raw / 1e9:.2f} GB raw, {matches:,} matching lines')
    print(f"line-filter scan rate: {mbps:,.0f} MB/s of raw text per CPU second")


if __name__ == "__main__":
    main()
