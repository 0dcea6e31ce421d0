"""Alerts from rules reach a real Alertmanager (API v2) and guardia's own Alertmanager."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from guardia.alerting import Alertmanager
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.config.prometheus import AlertmanagerEndpointConfig
from guardia.config.yamlsource import parse_yaml
from guardia.model import Labels
from guardia.rules.alerting import Alert, AlertState
from guardia.rules.notifier import Notifier, postable, targets_from_config, to_postable
from guardia.web.alertmanager_v2 import gettable_alerts

AM_CONFIG = """
route:
  receiver: devnull
  group_wait: 1h
receivers:
  - name: devnull
"""


def _alert(state: AlertState = AlertState.FIRING, resolved: int = 0) -> Alert:
    return Alert(Labels({"alertname": "APIDown", "instance": "api:8000", "severity": "critical"}),
                 {"summary": "API down on api:8000"}, state, active_at_ms=1_700_000_000_000,
                 value=0.0, fired_at_ms=1_700_000_060_000, resolved_at_ms=resolved,
                 valid_until_ms=1_700_000_300_000)


def test_postable_alert_fields() -> None:
    p = to_postable(_alert(), "up == 0", {"site": "madrid", "severity": "ignored"},
                    "http://guardia:9090/")
    assert p == {
        "labels": {"alertname": "APIDown", "instance": "api:8000", "severity": "critical",
                   "site": "madrid"},
        "annotations": {"summary": "API down on api:8000"},
        "startsAt": "2023-11-14T22:14:20.000Z",
        "endsAt": "2023-11-14T22:18:20.000Z",
        "generatorURL": "http://guardia:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
    }
    resolved = to_postable(_alert(AlertState.INACTIVE, resolved=1_700_000_120_000), "up", {}, "")
    assert resolved["endsAt"] == "2023-11-14T22:15:20.000Z"


def test_full_queue_drops_oldest_and_counts() -> None:
    reg = CollectorRegistry()
    n = Notifier(capacity=2, registry=reg)
    n.notify("up", [_alert(), _alert(), _alert()])
    assert reg.get_sample_value("prometheus_notifications_dropped_total") == 1
    assert reg.get_sample_value("prometheus_notifications_queue_length") == 2


def _current_alert() -> Alert:
    """A firing alert valid for the next minutes (Alertmanagers hide resolved ones)."""
    now = int(time.time() * 1000)
    a = _alert()
    a.active_at_ms, a.fired_at_ms, a.valid_until_ms = now - 60_000, now, now + 240_000
    return a


async def test_local_sink_is_guardias_own_alertmanager() -> None:
    am = Alertmanager(parse_alertmanager_config(parse_yaml(AM_CONFIG, "am.yml")))
    n = Notifier(external_labels={"site": "madrid"}, external_url="http://g:9090",
                 local=am.put)
    n.notify("up == 0", [_current_alert()])
    await n.flush()
    (got,) = gettable_alerts(am.alerts())
    assert got["labels"] == {"alertname": "APIDown", "instance": "api:8000",
                             "severity": "critical", "site": "madrid"}
    assert got["generatorURL"].startswith("http://g:9090/graph?g0.expr=")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("am")
    (tmp / "am.yml").write_text(AM_CONFIG)
    port = _free_port()
    proc = subprocess.Popen(
        ["/usr/bin/prometheus-alertmanager", f"--config.file={tmp / 'am.yml'}",
         f"--storage.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("alertmanager did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_external_alertmanager_receives_alerts_over_api_v2(alertmanager: str) -> None:
    host = alertmanager.removeprefix("http://")
    cfg = AlertmanagerEndpointConfig.model_validate(
        {"static_configs": [{"targets": [host]}], "timeout": "5s"})
    reg = CollectorRegistry()
    n = Notifier(external_labels={"site": "madrid"}, external_url="http://g:9090",
                 targets=targets_from_config([cfg]), registry=reg)
    stop = asyncio.Event()
    task = asyncio.create_task(n.run(stop))
    n.notify("up == 0", [_current_alert()])
    got: list[dict[str, Any]] = []
    for _ in range(50):
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient() as c:
            got = (await c.get(alertmanager + "/api/v2/alerts")).json()
        if got:
            break
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(got) == 1
    assert got[0]["labels"] == {"alertname": "APIDown", "instance": "api:8000",
                                "severity": "critical", "site": "madrid"}
    assert got[0]["annotations"] == {"summary": "API down on api:8000"}
    assert got[0]["generatorURL"] == "http://g:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    assert reg.get_sample_value("prometheus_notifications_sent_total",
                                {"alertmanager": f"{alertmanager}/api/v2/alerts"}) == 1


async def test_unreachable_alertmanager_counts_errors_and_does_not_raise() -> None:
    cfg = AlertmanagerEndpointConfig.model_validate(
        {"static_configs": [{"targets": [f"127.0.0.1:{_free_port()}"]}], "timeout": "1s"})
    reg = CollectorRegistry()
    n = Notifier(targets=targets_from_config([cfg]), registry=reg)
    n.notify("up", [_alert()])
    await n.flush()
    (target,) = n.targets
    assert reg.get_sample_value("prometheus_notifications_errors_total",
                                {"alertmanager": target.url}) == 1


async def test_an_unreachable_alertmanager_is_logged_once_per_failure_streak(
        caplog: pytest.LogCaptureFixture) -> None:
    """Seed 003: an Alertmanager inherited from a prometheus.yml that nobody runs filled the log
    with one error per batch. One line when the streak starts, one when it ends."""
    port = _free_port()
    cfg = AlertmanagerEndpointConfig.model_validate(
        {"static_configs": [{"targets": [f"127.0.0.1:{port}"]}], "timeout": "1s"})
    reg = CollectorRegistry()
    n = Notifier(targets=targets_from_config([cfg]), registry=reg)
    (target,) = n.targets
    caplog.set_level("INFO", logger="guardia.rules.notifier")
    for _ in range(5):
        n.notify("up", [_alert()])
        await n.flush()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "logged once until it answers again" in errors[0].getMessage()
    assert reg.get_sample_value("prometheus_notifications_errors_total", {"alertmanager": target.url}) == 5
    # it comes up: one line saying so, and the next failure starts a new streak with a new error
    srv = socket.socket()
    srv.bind(("127.0.0.1", port))
    srv.listen()

    async def answer() -> None:
        conn, _ = await asyncio.get_running_loop().sock_accept(srv)
        conn.setblocking(False)
        await asyncio.get_running_loop().sock_recv(conn, 65536)
        await asyncio.get_running_loop().sock_sendall(conn, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        conn.close()

    srv.setblocking(False)
    task = asyncio.create_task(answer())
    n.notify("up", [_alert()])
    await n.flush()
    await task
    srv.close()
    assert any("reachable again" in r.getMessage() and "failed_batches=5" in r.getMessage()
               for r in caplog.records if r.levelname == "INFO")
    n.notify("up", [_alert()])
    await n.flush()
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 2


def test_alert_relabel_configs_drop_and_rewrite() -> None:
    from guardia.config.relabel import RelabelConfig
    from guardia.model.relabel import process

    rules = [RelabelConfig.model_validate({"source_labels": ["severity"], "regex": "critical",
                                           "action": "drop"}),
             RelabelConfig.model_validate({"target_label": "team", "replacement": "ops"})]
    n = Notifier(relabel=lambda labels: process(labels, rules))
    warn = _alert()
    warn.labels = warn.labels.set("severity", "warning")
    n.notify("up", [_alert(), warn])  # the critical one is dropped
    (only,) = [postable(a) for a in n._take()]  # the queue holds alerts; as sent over HTTP
    assert only["labels"]["severity"] == "warning" and only["labels"]["team"] == "ops"


async def test_proxy_url_carries_alerts_to_the_alertmanager(alertmanager: str, tmp_path: Path) -> None:
    """alerting.alertmanagers[].proxy_url is honoured: the alerts go through a real proxy, and a
    proxy that is down means no delivery (errors counted), not a silent direct connection."""
    from tests.tinyproxy import free_port, tinyproxy

    host = alertmanager.removeprefix("http://")
    with tinyproxy(tmp_path) as proxy:
        for proxy_url, delivered in ((f"http://127.0.0.1:{free_port()}", False), (proxy.url, True)):
            cfg = AlertmanagerEndpointConfig.model_validate(
                {"static_configs": [{"targets": [host]}], "timeout": "5s", "proxy_url": proxy_url})
            reg = CollectorRegistry()
            n = Notifier(targets=targets_from_config([cfg]), registry=reg)
            a = _current_alert()
            a.labels = a.labels.set("via", proxy_url)
            n.notify("up == 0", [a])
            await n.flush()
            url = f"{alertmanager}/api/v2/alerts"
            sent = reg.get_sample_value("prometheus_notifications_sent_total", {"alertmanager": url})
            errors = reg.get_sample_value("prometheus_notifications_errors_total", {"alertmanager": url})
            assert (sent, errors) == ((1, None) if delivered else (None, 1))
        assert proxy.forwarded() == [f"POST {url} HTTP/1.1"]
        async with httpx.AsyncClient() as c:
            got = (await c.get(url)).json()
        assert [g["labels"]["via"] for g in got if "via" in g["labels"]] == [proxy.url]
