"""Escalation steps and acknowledgement, on a controllable clock: steps page in order unless
the alerts are acknowledged; who/when/why is recorded; the link in the notification
acknowledges; the state survives a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from guardia.alerting import Alertmanager
from guardia.alerting.acks import AckError
from guardia.alerting.stages import Backoff
from guardia.config import parse_yaml
from guardia.config.alertmanager import AlertmanagerConfig, parse_alertmanager_config
from guardia.config.errors import ConfigError
from guardia.model.am_matchers import parse_am_matchers
from guardia.web.alertmanager_v2 import alerts_from_postable
from tests.alerting.sinks import HTTPSink

FAST = Backoff(initial_s=0.05, multiplier=1.5, jitter=0.0, max_s=0.2)
MIN = 60 * 10**9


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += int(minutes * MIN)


def config(url: str) -> AlertmanagerConfig:
    return parse_alertmanager_config(parse_yaml(f"""
global: {{resolve_timeout: 2h}}
route:
  receiver: slack
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1h
  repeat_interval: 4h
  escalate:
    - {{after: 0m, receiver: oncall}}
    - {{after: 15m, receiver: pager}}
receivers:
  - name: slack
    webhook_configs: [{{url: '{url}/slack'}}]
  - name: oncall
    webhook_configs: [{{url: '{url}/oncall'}}]
  - name: pager
    webhook_configs: [{{url: '{url}/pager'}}]
""", "am.yml"))


def paths(sink: HTTPSink) -> list[str]:
    return sorted(r.path for r in sink.requests)


async def _fire(am: Alertmanager, clock: Clock, sink: HTTPSink, n: int = 2) -> None:
    await am.put(alerts_from_postable([{"labels": {"alertname": "DiskFull", "host": "db1"}}]))
    await sink.wait_for(n, 5)
    await asyncio.sleep(0.2)  # the flush records its deliveries after the sink answered


async def test_steps_page_in_order(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    clock = Clock()
    async with Alertmanager(config(sink.url), data_dir=tmp_path, clock=clock, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await _fire(am, clock, sink)
        assert paths(sink) == ["/oncall", "/slack"]  # the route's receiver and the 0m step
        clock.advance(14)
        await am.escalation_tick()
        assert paths(sink) == ["/oncall", "/slack"]
        clock.advance(2)
        await am.escalation_tick()
        assert paths(sink) == ["/oncall", "/pager", "/slack"]
        page = next(r for r in sink.requests if r.path == "/pager").json()
        assert page["receiver"] == "pager" and page["alerts"][0]["labels"]["host"] == "db1"
        assert page["alerts"][0]["annotations"]["ack_url"].startswith("http://localhost:9093/ack/")
        [(_, _, steps)] = am.escalations()
        assert [(s.after_ms, s.receiver, s.reached) for s in steps] == [(0, "oncall", True),
                                                                        (900_000, "pager", True)]
        # resolved: the paged steps hear it too, and the escalation ends
        await am.put(alerts_from_postable([{"labels": {"alertname": "DiskFull", "host": "db1"},
                                            "endsAt": "2000-01-01T00:00:00Z"}]))
        await am.escalation_tick()
        assert paths(sink).count("/pager") == 2 and am.escalator.groups == {}
    await sink.stop()


async def test_acknowledged_alerts_stop_escalating(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    clock = Clock()
    async with Alertmanager(config(sink.url), data_dir=tmp_path, clock=clock, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await _fire(am, clock, sink)
        clock.advance(5)
        ack = am.acknowledge(by="ana@iact", comment="vacuuming the table",
                             matchers=parse_am_matchers('alertname="DiskFull"'))
        assert (ack.by, ack.comment, ack.at_ns) == ("ana@iact", "vacuuming the table", clock.now)
        assert ack.matchers == ('{alertname="DiskFull"}',)
        clock.advance(20)
        await am.escalation_tick()
        assert "/pager" not in paths(sink)
        with pytest.raises(AckError, match="say who acknowledges"):
            am.acknowledge(by=" ", matchers=parse_am_matchers("alertname=DiskFull"))
        with pytest.raises(AckError, match="no firing alert matches"):
            am.acknowledge(by="ana", matchers=parse_am_matchers("alertname=Nope"))
    await sink.stop()


async def test_the_link_in_the_notification_acknowledges(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    clock = Clock()
    async with Alertmanager(config(sink.url), data_dir=tmp_path, clock=clock, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await _fire(am, clock, sink)
        url = sink.requests[0].json()["alerts"][0]["annotations"]["ack_url"]
        token = url.rsplit("/", 1)[1]
        ack = am.acknowledge_link(token, by="luis", comment="on it")
        assert len(ack.fingerprints) == 1
        with pytest.raises(AckError, match="not valid"):
            am.acknowledge_link(token[:-1] + ("0" if token[-1] != "0" else "1"), by="mallory")
        clock.advance(30)
        await am.escalation_tick()
        assert "/pager" not in paths(sink)
    await sink.stop()


async def test_escalation_and_acks_survive_a_restart(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    clock = Clock()
    async with Alertmanager(config(sink.url), data_dir=tmp_path, clock=clock, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await _fire(am, clock, sink)
    clock.advance(10)
    async with Alertmanager(config(sink.url), data_dir=tmp_path, clock=clock, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await asyncio.sleep(0.3)  # the restored group's first flush
        await am.escalation_tick()
        assert paths(sink) == ["/oncall", "/slack"]  # nothing paged twice, pager not yet due
        clock.advance(6)
        await am.escalation_tick()
        assert paths(sink) == ["/oncall", "/pager", "/slack"]  # due 15m after the first start
    # an acknowledgement outlives a restart too
    sink2 = await HTTPSink().start()
    clock2 = Clock()
    d2 = tmp_path / "second"
    async with Alertmanager(config(sink2.url), data_dir=d2, clock=clock2, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await _fire(am, clock2, sink2)
        am.acknowledge(by="ana", comment="known", matchers=parse_am_matchers("host=db1"))
    clock2.advance(30)
    async with Alertmanager(config(sink2.url), data_dir=d2, clock=clock2, backoff=FAST,
                            escalation_tick_s=3600) as am:
        await asyncio.sleep(0.3)
        await am.escalation_tick()
        assert "/pager" not in paths(sink2)
        [ack] = am.escalator.acks.items.values()
        assert (ack.by, ack.comment) == ("ana", "known")
    await sink.stop()
    await sink2.stop()


def test_escalation_config_errors() -> None:
    with pytest.raises(ConfigError) as e:
        parse_alertmanager_config(parse_yaml("""
route:
  receiver: a
  escalate:
    - {after: 15m, receiver: b}
    - {after: 5m, receiver: nobody}
receivers: [{name: a}, {name: b}]
""", "am.yml"))
    msgs = [f"{i.line}:{i.path}: {i.message}" for i in e.value.errors]
    assert msgs == ['6:route.escalate[1].receiver: receiver "nobody" is not defined; defined receivers: a, b',
                    "6:route.escalate[1].after: escalation steps must be in order of their after: times"]
