"""Delivery behaviour: retries with backoff, non-retryable errors, send_resolved, metrics,
restart without resending or losing, resolve by endsAt / resolve_timeout."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prometheus_client import CollectorRegistry

from guardia.alerting import Alertmanager
from guardia.alerting.stages import Backoff
from guardia.config import parse_yaml
from guardia.config.alertmanager import AlertmanagerConfig, parse_alertmanager_config
from guardia.web.alertmanager_v2 import alerts_from_postable, gettable_alerts, integration_status
from tests.alerting.sinks import HTTPSink

FAST = Backoff(initial_s=0.05, multiplier=1.5, jitter=0.0, max_s=0.2)


def config(url: str, extra: str = "", resolve_timeout: str = "5m", send_resolved: bool = True,
           group_interval: str = "1s", repeat: str = "1h") -> AlertmanagerConfig:
    return parse_alertmanager_config(parse_yaml(f"""
global:
  resolve_timeout: {resolve_timeout}
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 200ms
  group_interval: {group_interval}
  repeat_interval: {repeat}
receivers:
  - name: hook
    webhook_configs: [{{url: '{url}/hook', send_resolved: {str(send_resolved).lower()}}}]
{extra}
""", "am.yml"))


def sample(reg: CollectorRegistry, name: str, **labels: str) -> float:
    v = reg.get_sample_value(name, labels)
    return 0.0 if v is None else v


async def test_a_sink_failing_three_times_gets_exactly_one_delivery() -> None:
    sink = await HTTPSink(fail_first=3).start()
    reg = CollectorRegistry()
    async with Alertmanager(config(sink.url), registry=reg, backoff=FAST) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "DBDown"}}]))
        await sink.wait_for(1, 5)
        await asyncio.sleep(1.5)  # more flushes happen; none may resend
    await sink.stop()
    assert sink.attempts == 4
    assert len(sink.requests) == 1
    lab = {"integration": "webhook", "receiver_name": "hook"}
    assert sample(reg, "alertmanager_notifications_total", **lab) == 1
    assert sample(reg, "alertmanager_notification_requests_total", **lab) == 4
    assert sample(reg, "alertmanager_notification_requests_failed_total", **lab) == 3
    assert sample(reg, "alertmanager_notifications_failed_total", **lab, reason="serverError") == 0


async def test_it_does_not_retry_a_400() -> None:
    sink = await HTTPSink(fail_first=1000, fail_status=400).start()
    reg = CollectorRegistry()
    async with Alertmanager(config(sink.url, group_interval="5s"), registry=reg, backoff=FAST) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "DBDown"}}]))
        for _ in range(200):  # the first attempt, however loaded the machine is
            if sink.attempts:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.8)  # FAST backoff would have retried well within this
    await sink.stop()
    assert sink.attempts == 1
    assert sample(reg, "alertmanager_notifications_failed_total", integration="webhook", receiver_name="hook",
                  reason="clientError") == 1


async def test_a_failing_integration_stays_visible_until_delivered() -> None:
    sink = await HTTPSink(fail_first=1, fail_status=403).start()
    async with Alertmanager(config(sink.url, group_interval="300ms"), backoff=FAST) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "DBDown"}}]))
        for _ in range(50):
            (st,) = integration_status(am.integration_states())
            if st["consecutiveFailures"]:
                break
            await asyncio.sleep(0.02)
        assert "unexpected status code 403" in st["lastNotifyAttemptError"] and st["failingSince"]
        await sink.wait_for(1, 5)
        await asyncio.sleep(0.05)
        (st,) = integration_status(am.integration_states())
    await sink.stop()
    assert st["lastNotifyAttemptError"] == "" and st["failingSince"] is None
    assert st["receiver"] == "hook" and st["integration"] == "webhook"


async def test_failed_flush_is_retried_next_interval_until_delivered() -> None:
    # Retries inside one flush stop at the notify deadline; the next flush tries again.
    sink = await HTTPSink(fail_first=2, fail_status=400).start()
    async with Alertmanager(config(sink.url, group_interval="300ms"), backoff=FAST) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "DBDown"}}]))
        reqs = await sink.wait_for(1, 5)
    await sink.stop()
    assert len(reqs) == 1 and sink.attempts == 3


async def test_resolved_by_ends_at_and_by_resolve_timeout() -> None:
    sink = await HTTPSink().start()
    async with Alertmanager(config(sink.url, resolve_timeout="1s", group_interval="500ms")) as am:
        # no endsAt: resolves after resolve_timeout
        await am.put(alerts_from_postable([{"labels": {"alertname": "A"}}]))
        reqs = await sink.wait_for(2, 5)
    await sink.stop()
    assert [r.json()["status"] for r in reqs[:2]] == ["firing", "resolved"]
    resolved = reqs[1].json()["alerts"][0]
    assert resolved["status"] == "resolved" and resolved["endsAt"] != "0001-01-01T00:00:00Z"


async def test_send_resolved_false_sends_no_resolution() -> None:
    sink = await HTTPSink().start()
    async with Alertmanager(config(sink.url, send_resolved=False, group_interval="300ms")) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "A", "i": "1"}},
                                           {"labels": {"alertname": "A", "i": "2"}}]))
        await sink.wait_for(1, 3)
        await am.put(alerts_from_postable([{"labels": {"alertname": "A", "i": "1"},
                                            "endsAt": "2000-01-01T00:00:00Z",
                                            "startsAt": "1999-01-01T00:00:00Z"}]))
        await asyncio.sleep(1.0)
    await sink.stop()
    assert len(sink.requests) == 1


async def test_restart_mid_group_neither_resends_nor_loses(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    cfg = config(sink.url, group_interval="300ms")
    am = Alertmanager(cfg, data_dir=tmp_path)
    await am.start()
    await am.put(alerts_from_postable([{"labels": {"alertname": "A", "i": "1"}}]))
    await sink.wait_for(1, 3)
    # B arrives and guardia stops before B's group flushes (group_wait/interval not reached).
    await am.put(alerts_from_postable([{"labels": {"alertname": "B"}}]))
    await am.stop()
    assert len(sink.requests) == 1
    # A fresh process on the same data dir: B must be sent, A must not be sent again.
    am2 = Alertmanager(cfg, data_dir=tmp_path)
    await am2.start()
    reqs = await sink.wait_for(2, 3)
    await asyncio.sleep(1.0)
    await am2.stop()
    await sink.stop()
    names = [r.json()["groupLabels"]["alertname"] for r in sink.requests]
    assert names == ["A", "B"], names
    assert len(reqs) == 2
    log = json.loads((tmp_path / "nflog.json").read_text())
    assert sorted(e["groupKey"] for e in log) == ['{}:{alertname="A"}', '{}:{alertname="B"}']


async def test_silence_persists_across_restart(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    cfg = config(sink.url, group_interval="300ms")
    am = Alertmanager(cfg, data_dir=tmp_path)
    sid = am.silences.set(**_silence("alertname", "A"))
    reg = CollectorRegistry()
    am2 = Alertmanager(cfg, data_dir=tmp_path, registry=reg)
    async with am2:
        assert am2.silences.get(sid).state(am2.clock()) == "active"
        await am2.put(alerts_from_postable([{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}}]))
        await sink.wait_for(1, 3)
        await asyncio.sleep(0.6)
        api = {a["labels"]["alertname"]: a["status"] for a in gettable_alerts(am2.alerts())}
        assert sample(reg, "alertmanager_alerts", state="suppressed") == 1
        assert sample(reg, "alertmanager_alerts", state="active") == 1
        assert sample(reg, "alertmanager_silences", state="active") == 1
        assert sample(reg, "alertmanager_nflog_entries") == 1
    await sink.stop()
    assert [r.json()["groupLabels"]["alertname"] for r in sink.requests] == ["B"]
    assert api["A"]["state"] == "suppressed" and api["A"]["silencedBy"] == [sid]
    assert api["B"]["state"] == "active"


def _silence(name: str, value: str) -> dict[str, object]:
    from guardia.web.alertmanager_v2 import parse_api_silence

    return parse_api_silence({"matchers": [{"name": name, "value": value, "isRegex": False}],
                              "startsAt": "2000-01-01T00:00:00Z", "endsAt": "2999-01-01T00:00:00Z",
                              "createdBy": "t", "comment": "c"})


async def test_invalid_alerts_are_rejected_whole() -> None:
    import pytest

    from guardia.alerting import AlertValidationError

    async with Alertmanager(config("http://127.0.0.1:9")) as am:
        with pytest.raises(AlertValidationError, match="invalid name"):
            await am.put(alerts_from_postable([{"labels": {"ok": "1"}}, {"labels": {"bad-name": "x"}}]))
        with pytest.raises(AlertValidationError, match="start time must be before end time"):
            await am.put(alerts_from_postable([{"labels": {"a": "1"}, "startsAt": "2020-01-02T00:00:00Z",
                           "endsAt": "2020-01-01T00:00:00Z"}]))
        assert am.alerts() == []


async def test_reload_reroutes_current_alerts_without_resending() -> None:
    sink = await HTTPSink().start()
    first = config(sink.url, group_interval="300ms")
    second = parse_alertmanager_config(parse_yaml(f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 300ms
  routes:
    - {{matchers: [team=db], receiver: dba}}
receivers:
  - name: hook
    webhook_configs: [{{url: '{sink.url}/hook'}}]
  - name: dba
    webhook_configs: [{{url: '{sink.url}/dba'}}]
""", "am.yml"))
    async with Alertmanager(first) as am:
        await am.put(alerts_from_postable([{"labels": {"alertname": "A", "team": "db"}},
                                           {"labels": {"alertname": "B"}}]))
        await sink.wait_for(2, 3)
        await am.reload(second)
        await sink.wait_for(3, 3)
        await asyncio.sleep(0.8)
    await sink.stop()
    paths = sorted(r.path for r in sink.requests)
    assert paths == ["/dba", "/hook", "/hook"], paths  # A now goes to dba; B is not resent
