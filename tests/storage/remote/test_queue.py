"""The sending side against a local receiver that answers what the test tells it: the WAL is
read across segments and checkpoints, 5xx and 429 are retried as long as Retry-After says,
other 4xx drop the batch, relabeling drops series, and the position survives a new queue."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.config.httpclient import ssl_context
from guardia.config.prometheus import QueueConfig, RemoteWriteConfig
from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.storage.remote.decode import decompress
from guardia.storage.remote.metrics import RemoteWriteMetrics
from guardia.storage.remote.post_client import PostClient
from guardia.storage.remote.proto import WriteRequest
from guardia.storage.remote.queue_manager import QueueManager, _retry_after
from guardia.storage.remote.wal_watcher import Position, WALWatcher
from guardia.storage.tsdb import TSDB, TSDBOptions
from tests.web.conftest import LiveServer

T0 = 1_700_000_000_000


class Receiver:
    """Answers each POST with the next status of ``script`` (then 204) and keeps what it took."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.got: list[tuple[dict[str, str], int, float]] = []
        self.times: list[float] = []
        self.app = Starlette(routes=[Route("/write", self.write, methods=["POST"])])

    async def write(self, request: Request) -> Response:
        body = await request.body()
        self.times.append(time.monotonic())
        if self.script:
            status, headers = self.script.pop(0)
            return Response(status_code=status, headers=headers)
        req = WriteRequest()
        req.ParseFromString(decompress(body))
        for ts in req.timeseries:
            lb = {x.name: x.value for x in ts.labels}
            self.got.extend((lb, s.timestamp, s.value) for s in ts.samples)
        return Response(status_code=204)


def _store(path: Path, segment_bytes: int = 1 << 20) -> TSDB:
    return TSDB.open(path, TSDBOptions(wal_segment_bytes=segment_bytes))


def _append(db: TSDB, t: int, n: int = 10, job: str = "a") -> None:
    app = db.appender()
    for i in range(n):
        app.append(Labels({"__name__": "m", "job": job, "i": str(i)}), t, float(i))
    app.commit()


def _queue(tmp: Path, url: str, **kw: object) -> QueueManager:
    q = QueueConfig(min_backoff="20ms", max_backoff="200ms", batch_send_deadline="50ms")
    cfg = RemoteWriteConfig(url=url, name="test", queue_config=q, **kw)  # type: ignore[arg-type]
    return QueueManager(cfg, waldir=tmp / "db" / "wal", state_path=tmp / "state.json",
                        external_labels={"site": "x"}, metrics=RemoteWriteMetrics(CollectorRegistry()))


async def _until(cond: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_the_watcher_follows_segments_and_checkpoints(tmp_path: Path) -> None:
    db = _store(tmp_path / "db", segment_bytes=400)  # a few commits per segment
    w = WALWatcher(tmp_path / "db" / "wal", Position(0, 0))
    for k in range(6):
        _append(db, T0 + k * 1000)
    got = w.read(10_000)
    assert got.size == 60 and min(got.timestamps) == T0 and max(got.timestamps) == T0 + 5000
    assert {str(w.labels[int(r)]) for r in got.refs} == {f'm{{i="{i}", job="a"}}' for i in range(10)}
    db.checkpoint()  # segments read so far are deleted; new series come in later segments
    _append(db, T0 + 6000, job="b")
    later = w.read(10_000)
    assert later.size == 10 and later.lost_segments == 0
    assert {w.labels[int(r)].get("job") for r in later.refs} == {"b"}  # type: ignore[union-attr]
    # a reader that starts afterwards learns the series from the checkpoint
    fresh = WALWatcher(tmp_path / "db" / "wal", w.pos)
    assert fresh.labels[int(got.refs[0])] == w.labels[int(got.refs[0])]
    db.close()


def test_errors_are_retried_or_dropped_as_prometheus_does(tmp_path: Path) -> None:
    db = _store(tmp_path / "db")
    rx = Receiver()
    with LiveServer(rx.app) as srv:
        async def go() -> QueueManager:
            q = _queue(tmp_path, f"{srv.url}/write")
            q.start()
            await _until(lambda: q.watcher is not None)
            rx.script = [(503, {}), (429, {"Retry-After": "1"})]
            _append(db, T0)  # 503, then 429 waiting 1 s, taken
            await _until(lambda: len(rx.got) == 10)
            gap = rx.times[2] - rx.times[1]
            rx.script = [(400, {})]
            _append(db, T0 + 1000)  # 400: dropped, not retried
            await _until(lambda: q.m.failed._value.get() == 10)
            _append(db, T0 + 2000)
            await _until(lambda: len(rx.got) == 20)
            await q.stop()
            assert gap >= 0.95  # the receiver's Retry-After, not the 20 ms backoff
            return q

        q = asyncio.run(go())
    assert q.m.retried._value.get() == 20 and q.m.sent._value.get() == 20
    assert {t for _, t, _ in rx.got} == {T0, T0 + 2000}
    assert all(lb["site"] == "x" for lb, _, _ in rx.got)  # external labels added
    db.close()


def test_a_new_queue_resumes_from_the_saved_position_and_relabels(tmp_path: Path) -> None:
    db = _store(tmp_path / "db")
    rx = Receiver()
    drop_odd = RelabelConfig(source_labels=("i",), regex="[13579]", action="drop")
    with LiveServer(rx.app) as srv:
        async def go() -> None:
            q = _queue(tmp_path, f"{srv.url}/write", write_relabel_configs=(drop_odd,))
            q.start()
            await _until(lambda: q.watcher is not None)
            _append(db, T0)
            await _until(lambda: len(rx.got) == 5)
            await q.stop()
            _append(db, T0 + 1000)  # written while no queue runs
            q2 = _queue(tmp_path, f"{srv.url}/write", write_relabel_configs=(drop_odd,))
            q2.start()
            await _until(lambda: len(rx.got) == 10)
            await q2.stop()
            assert q2.m.dropped._value.get() == 5

        asyncio.run(go())
    assert sorted({t for _, t, _ in rx.got}) == [T0, T0 + 1000]
    assert {lb["i"] for lb, _, _ in rx.got} == {"0", "2", "4", "6", "8"}
    db.close()


@pytest.mark.parametrize(("value", "want"), [("3", 3.0), (None, None), ("soon", None)])
def test_retry_after_in_seconds(value: str | None, want: float | None) -> None:
    assert _retry_after(value) == want


def test_retry_after_as_a_date() -> None:
    from email.utils import formatdate

    got = _retry_after(formatdate(time.time() + 5, usegmt=True))
    assert got is not None and 3 < got <= 5




def test_oauth2_tokens_are_fetched_once_and_sent_as_bearer(tmp_path: Path) -> None:
    from guardia.config.httpclient import OAuth2

    db = _store(tmp_path / "db")
    rx = Receiver()
    tokens: list[str] = []
    auth_seen: list[str] = []

    async def token(request: Request) -> Response:
        form = (await request.body()).decode()
        tokens.append(request.headers.get("authorization", ""))
        assert "grant_type=client_credentials" in form and "scope=write" in form
        return Response('{"access_token": "tok-1", "expires_in": 3600}', media_type="application/json")

    inner = rx.write

    async def write(request: Request) -> Response:
        auth_seen.append(request.headers.get("authorization", ""))
        return await inner(request)

    rx.app = Starlette(routes=[Route("/token", token, methods=["POST"]),
                               Route("/write", write, methods=["POST"])])
    with LiveServer(rx.app) as srv:
        async def go() -> None:
            oauth = OAuth2(client_id="guardia", client_secret="s3cret", scopes=("write",),
                           token_url=f"{srv.url}/token")
            q = _queue(tmp_path, f"{srv.url}/write", oauth2=oauth)
            q.start()
            await _until(lambda: q.watcher is not None)
            _append(db, T0)
            await _until(lambda: len(rx.got) == 10)
            _append(db, T0 + 1000)
            await _until(lambda: len(rx.got) == 20)
            await q.stop()

        asyncio.run(go())
    assert len(tokens) == 1 and tokens[0].startswith("Basic ")
    assert set(auth_seen) == {"Bearer tok-1"} and len(auth_seen) >= 2
    db.close()


def test_a_proxy_url_sends_through_a_real_proxy(tmp_path: Path) -> None:
    """``proxy_url`` goes through httpx (loaded only then); tinyproxy forwards and logs each POST."""
    from tests.tinyproxy import tinyproxy

    db = _store(tmp_path / "db")
    rx = Receiver()
    with LiveServer(rx.app) as srv, tinyproxy(tmp_path) as proxy:
        async def go() -> None:
            q = _queue(tmp_path, f"{srv.url}/write", proxy_url=proxy.url)
            q.start()
            await _until(lambda: q.watcher is not None)
            _append(db, T0)
            await _until(lambda: len(rx.got) == 10)
            await q.stop()

        asyncio.run(go())
        assert f"POST {srv.url}/write HTTP/1.1" in proxy.forwarded()
    db.close()


def test_basic_auth_and_headers_reach_the_receiver(tmp_path: Path) -> None:
    from guardia.config.httpclient import BasicAuth

    db = _store(tmp_path / "db")
    rx = Receiver()
    seen: list[tuple[str, str]] = []
    inner = rx.write

    async def write(request: Request) -> Response:
        seen.append((request.headers.get("authorization", ""), request.headers.get("x-scope-orgid", "")))
        return await inner(request)

    rx.app = Starlette(routes=[Route("/write", write, methods=["POST"])])
    with LiveServer(rx.app) as srv:
        async def go() -> None:
            q = _queue(tmp_path, f"{srv.url}/write", basic_auth=BasicAuth(username="site", password="pw"),
                       headers={"X-Scope-OrgID": "tenant-1"})
            q.start()
            await _until(lambda: q.watcher is not None)
            _append(db, T0)
            await _until(lambda: len(rx.got) == 10)
            await q.stop()

        asyncio.run(go())
    assert seen == [("Basic c2l0ZTpwdw==", "tenant-1")]
    db.close()


def test_shards_follow_the_backlog(tmp_path: Path) -> None:
    q = _queue(tmp_path, "http://127.0.0.1:9/write")
    q.max_shards = 50
    now = q._win_start + 10
    # 1 ms to send 2,000 samples on one shard, 20,000 samples/s coming in: one shard is plenty
    q._win_in, q._win_sent, q._win_send_s = 200_000, 200_000, 0.1
    assert q.desired_shards(now) == 1
    # sending got slow (a distant receiver): 20,000/s × 0.5 ms a sample needs 10 shards
    q._win_start, q._rate_in = now - 10, 0.0
    q._win_in, q._win_sent, q._win_send_s = 200_000, 20_000, 10.0
    assert q.desired_shards(now) == 10


def test_a_415_to_a_2_0_request_falls_back_to_1_0_and_loses_nothing(tmp_path: Path) -> None:
    """The 2.0 spec's answer for a message the receiver does not take; the batch that got it
    is sent again as 1.0, and so is everything after."""
    db = _store(tmp_path / "db")
    rx = Receiver()
    rx.script = [(415, {})]
    with LiveServer(rx.app) as srv:
        async def go() -> QueueManager:
            q = _queue(tmp_path, f"{srv.url}/write", protobuf_message="io.prometheus.write.v2.Request")
            assert q.v2
            q.start()
            await _until(lambda: q.watcher is not None)
            _append(db, T0)
            await _until(lambda: len(rx.got) == 10)
            _append(db, T0 + 1000)
            await _until(lambda: len(rx.got) == 20)
            await q.stop()
            return q

        q = asyncio.run(go())
    assert not q.v2 and q.m.failed._value.get() == 0 and q.m.sent._value.get() == 20
    assert sorted({t for _, t, _ in rx.got}) == [T0, T0 + 1000]
    db.close()


def test_a_tls_context_is_built_for_https_endpoints_only(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A default TLS context holds the system's CA certificates (~2 MiB): a plain-HTTP
    endpoint's client is built without one, an https one with the ``tls_config``'s."""
    from guardia.storage.remote import queue_manager

    built: list[object] = []

    def counted(tls: object) -> ssl.SSLContext:
        built.append(tls)
        return ssl_context(tls)  # type: ignore[arg-type]

    monkeypatch.setattr(queue_manager, "ssl_context", counted)
    plain = _queue(tmp_path / "a", "http://127.0.0.1:9/write")._new_client()
    assert isinstance(plain, PostClient) and plain.ssl is None and built == []
    secure = _queue(tmp_path / "b", "https://127.0.0.1:9/write",
                    tls_config={"insecure_skip_verify": True})._new_client()
    assert isinstance(secure, PostClient) and isinstance(secure.ssl, ssl.SSLContext) and len(built) == 1
    assert secure.ssl.verify_mode == ssl.CERT_NONE
