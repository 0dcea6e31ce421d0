"""guardia.client against a real guardia: fire and resolve (sync and async), retries, the spool
when guardia is down, and 4xx refusals raised rather than spooled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import guardia.client
from guardia.client import AlertRejected, Sender, Spool, Unreachable
from tests.checks.dbservers import free_port
from tests.contrib.sink import Sink
from tests.test_serve import Serve

CONFIG = """
scrape_configs: []
alertmanager:
  route: {receiver: sink, group_by: [alertname], group_wait: 0s, group_interval: 1s}
  receivers:
    - name: sink
      webhook_configs: [{url: "URL/hook", send_resolved: true}]
"""


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[Serve]:
    tmp = tmp_path_factory.mktemp("client")
    cfg = tmp / "guardia.yml"
    cfg.write_text(CONFIG.replace("URL", sink.url))
    s = Serve(tmp, "--config.file", str(cfg))
    try:
        s.wait_ready()
        yield s
    finally:
        if s.proc.poll() is None:
            s.stop()


def _alerts(s: Serve) -> dict[str, dict[str, object]]:
    return {a["labels"]["alertname"]: a for a in s.http.get("/api/v2/alerts").json()}


def test_fire_and_resolve(served: Serve, tmp_path: Path) -> None:
    sender = Sender(url=served.url, spool=Spool(tmp_path / "spool"))
    assert guardia.client.fire("QueueBacklog", severity="critical", summary="3000 jobs queued",
                               labels={"service": "payments"}, sender=sender)
    a = _alerts(served)["QueueBacklog"]
    assert a["labels"] == {"alertname": "QueueBacklog", "severity": "critical", "service": "payments"}
    assert a["annotations"] == {"summary": "3000 jobs queued"} and a["status"]["state"] == "active"  # type: ignore[index]
    assert guardia.client.resolve("QueueBacklog", severity="critical", labels={"service": "payments"},
                                  sender=sender)
    assert "QueueBacklog" not in _alerts(served)


async def test_async_fire(served: Serve, tmp_path: Path) -> None:
    sender = Sender(url=served.url, spool=Spool(tmp_path / "spool"))
    assert await guardia.client.afire("AsyncThing", labels={"x": "1"}, sender=sender)
    assert "AsyncThing" in _alerts(served)
    assert await guardia.client.aresolve("AsyncThing", labels={"x": "1"}, sender=sender)
    assert "AsyncThing" not in _alerts(served)


def test_unreachable_spools_then_delivers(served: Serve, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    down = Sender(url=f"http://127.0.0.1:{free_port()}", spool=spool, retries=2, backoff_s=0.01, timeout_s=1)
    with pytest.raises(Unreachable, match="spooled"):
        guardia.client.fire("WhileDown", labels={"n": "1"}, sender=down)
    assert not guardia.client.fire("WhileDown2", sender=down, raise_errors=False)
    assert len(spool.files()) == 2
    up = Sender(url=served.url, spool=spool)
    assert guardia.client.flush(up) == 0
    names = _alerts(served)
    assert "WhileDown" in names and "WhileDown2" in names


def test_a_refused_alert_is_raised_not_spooled(served: Serve, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    sender = Sender(url=served.url, spool=spool)
    with pytest.raises(AlertRejected, match="HTTP 400"):
        guardia.client.fire("Bad", labels={"0bad": "x"}, sender=sender)
    assert spool.files() == []


def test_retries_a_5xx(sink: Sink, tmp_path: Path) -> None:
    flaky = Sink(status=503)
    try:
        sender = Sender(url=flaky.url, spool=Spool(tmp_path / "s"), retries=3, backoff_s=0.01)
        assert not guardia.client.fire("X", sender=sender, raise_errors=False)
        assert len(flaky.bodies) == 3 and len(sender.spool.files()) == 1
    finally:
        flaky.close()
