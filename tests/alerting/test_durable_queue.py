"""Durable notifications: kill -9 a real ``guardia serve`` at random points of a retry
sequence against a webhook sink that fails, then accepts; every notification arrives exactly
once after the restarts, none is lost.  And the retry queue's file: a corrupt record costs that
record only."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from guardia.alerting.nflog import ReceiverKey
from guardia.alerting.outbox import FILE_NAME, Pending, RetryQueue
from tests.alerting.sinks import HTTPSink

GUARDIA_YML = """
global: {{evaluation_interval: 1s}}
alertmanager:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: {group_wait}
    group_interval: {group_wait}
    repeat_interval: 24h
  receivers:
    - name: hook
      webhook_configs: [{{url: '{sink}/hook'}}]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``guardia serve`` in its own process, on the test's data directory."""

    def __init__(self, tmp: Path, config: Path, n: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{n}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(config),
             "--web.listen-address", f"127.0.0.1:{self.port}", "--storage.tsdb.path", str(tmp / "data")],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, cwd=tmp)

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as c:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    if (await c.get("/-/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"not ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _by_group(sink: HTTPSink) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in sink.requests:
        out.setdefault(r.json()["groupLabels"]["alertname"], []).append(r.headers.get("idempotency-key", ""))
    return out


@pytest.mark.parametrize("restart_group_wait", ["1s", "1h"])
async def test_kill_9_during_retries_delivers_each_notification_exactly_once(
        tmp_path: Path, restart_group_wait: str) -> None:
    """With ``1h`` the restarted process's groups wait an hour before their first flush: only
    the retry queue can deliver what the killed one left undelivered."""
    seed = int(os.environ.get("GUARDIA_TEST_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    sink = await HTTPSink(fail_first=10**9).start()  # fails until told otherwise
    first_cfg, later_cfg = tmp_path / "first.yml", tmp_path / "later.yml"
    first_cfg.write_text(GUARDIA_YML.format(group_wait="1s", sink=sink.url))
    later_cfg.write_text(GUARDIA_YML.format(group_wait=restart_group_wait, sink=sink.url))
    names = ["DiskFull", "HostDown", "QueueStuck"]
    runs: list[Serve] = []
    try:
        s = Serve(tmp_path, first_cfg, 0)
        runs.append(s)
        await s.ready()
        async with httpx.AsyncClient(base_url=s.url, timeout=5) as c:
            r = await c.post("/api/v2/alerts", json=[{"labels": {"alertname": n}} for n in names])
            assert r.status_code == 200, r.text
            # the retry sequence has begun: the sink has refused at least one request per group
            deadline = time.monotonic() + 20
            while sink.attempts < len(names):
                assert time.monotonic() < deadline, s.log.read_text()
                await asyncio.sleep(0.05)
            # the queue records an attempt after the sink's refusal reaches the server: poll
            while True:
                pending = (await c.get("/api/v2/notifications/pending")).json()
                if all(p["attempts"] >= 1 and p["lastError"] for p in pending):
                    break
                assert time.monotonic() < deadline, (pending, s.log.read_text())
                await asyncio.sleep(0.05)
            assert sorted(p["groupLabels"]["alertname"] for p in pending) == names
            metrics = (await c.get("/metrics")).text
            assert 'alertmanager_notification_queue_length{integration="webhook",receiver_name="hook"} 3.0' \
                in metrics, metrics
            assert "alertmanager_notification_queue_oldest_age_seconds{" in metrics
        # kill -9 at random points while the sink keeps refusing: nothing may get lost
        for n in range(1, 4):
            await asyncio.sleep(rng.uniform(0.0, 2.5))
            s.kill()
            assert sink.requests == []
            s = Serve(tmp_path, later_cfg, n)
            runs.append(s)
            await s.ready()
        # the receiver recovers; one more kill at a random moment (before, during or after the
        # deliveries), then everything must arrive
        sink.fail_first = sink.attempts
        await asyncio.sleep(rng.uniform(0.0, 3.0))
        s.kill()
        s = Serve(tmp_path, later_cfg, 4)
        runs.append(s)
        await s.ready()
        deadline = time.monotonic() + 60
        while len(_by_group(sink)) < len(names):
            assert time.monotonic() < deadline, (seed, _by_group(sink), s.log.read_text())
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # three more group intervals: nothing may be sent again
        async with httpx.AsyncClient(base_url=s.url, timeout=5) as c:
            assert (await c.get("/api/v2/notifications/pending")).json() == []
            metrics = (await c.get("/metrics")).text
            assert 'alertmanager_notification_queue_length{integration="webhook",receiver_name="hook"} 0.0' \
                in metrics
    finally:
        for run in runs:
            run.stop()
        await sink.stop()
    got = _by_group(sink)
    assert sorted(got) == names, (seed, got)
    for name, keys in got.items():
        assert keys[0], "every webhook request carries its Idempotency-Key"
        # exactly once as the receiver sees it; a raw second copy is possible only when the kill
        # fell between the receiver's 200 and the notification log's fsync, and then it carries
        # the same key
        assert len(set(keys)) == 1, (seed, name, keys)
        assert len(keys) <= 2, (seed, name, keys)
    raw = sum(len(k) for k in got.values())
    print(f"seed={seed} requests={sink.attempts} delivered={raw} distinct={len(got)}")


def _pending(i: int) -> Pending:
    return Pending(
        id=f"id{i}", group_key=f'{{}}:{{alertname="A{i}"}}', receiver=ReceiverKey("hook", "webhook", 0),
        group_labels={"alertname": f"A{i}"}, now=1, repeat_interval_ns=1, external_url="", firing=(i,),
        resolved=(), alerts=(), queued_at=i, created_at=i, attempts=i, next_try=i,
    )


def test_a_corrupt_record_costs_that_record_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / FILE_NAME
    q = RetryQueue(path)
    for i in range(1, 5):
        q.put(_pending(i))
    q.tried("id4", 7, 99, "HTTP 500")
    q.close()
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 5
    flipped = bytearray(lines[1])
    flipped[30] ^= 0x01  # one bit of the second entry's JSON
    lines[1] = bytes(flipped)
    lines[2] = b"garbage that is not a record\n"
    path.write_bytes(b"".join(lines) + b'0badc0de {"op":"put"')  # and a torn tail
    with caplog.at_level(logging.WARNING, logger="guardia.alerting"):
        q = RetryQueue(path)
    assert [e.id for e in q.pending()] == ["id1", "id4"]
    assert q.get("id4") is not None and q.get("id4").attempts == 7  # type: ignore[union-attr]
    reasons = [r.getMessage() for r in caplog.records if "notify_queue_record_skipped" in r.getMessage()]
    assert len(reasons) == 3, reasons
    assert "line=2 reason='checksum mismatch'" in reasons[0]
    assert "line=3 reason='no checksum'" in reasons[1]
    assert "line=6 reason='unterminated line" in reasons[2]
    q.close()
    # rewritten without the bad records: a second open finds nothing to complain about
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="guardia.alerting"):
        q = RetryQueue(path)
    assert [e.id for e in q.pending()] == ["id1", "id4"]
    assert not [r for r in caplog.records if "skipped" in r.getMessage()]
    q.close()
