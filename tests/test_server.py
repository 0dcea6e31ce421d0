"""GuardiaProcess (guardia.server) in-process: every subsystem registers on one auto_describe registry."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge

from guardia.alerting import Alertmanager
from guardia.config.loader import load_config
from guardia.server import GuardiaProcess, ServeOptions

CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: down
    static_configs: [{targets: ["127.0.0.1:1"]}]
alertmanager:
  route: {receiver: team}
  receivers: [{name: team}]
"""

RULES = """
groups:
  - name: g
    rules:
      - alert: Always
        expr: vector(1)
"""


def _write(tmp_path: Path) -> Path:
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    return cfg


def _process(tmp_path: Path) -> GuardiaProcess:
    return GuardiaProcess(ServeOptions(
        config_file=str(_write(tmp_path)),
        listen_address="127.0.0.1:0",
        storage_path=str(tmp_path / "data"),
    ))


def test_alertmanager_registers_on_an_auto_describe_registry(tmp_path: Path) -> None:
    cfg = load_config(str(_write(tmp_path)))
    assert cfg.alertmanager is not None
    registry = CollectorRegistry(auto_describe=True)
    am = Alertmanager(cfg.alertmanager, data_dir=tmp_path / "am", registry=registry)
    assert am is not None
    assert registry.get_sample_value("alertmanager_alerts", {"state": "active"}) == 0.0


async def test_process_runs_on_an_auto_describe_registry(tmp_path: Path) -> None:
    proc = _process(tmp_path)
    await proc.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}") as c:
            text = (await c.get("/metrics")).text
        # scrape, TSDB, rules, notifier, Alertmanager and HTTP metrics all on one registry
        for name in (
            "prometheus_target_scrape_pools_total",
            "prometheus_rule_group_rules",
            "prometheus_notifications_queue_capacity",
            "alertmanager_alerts",
            "prometheus_config_last_reload_successful",
        ):
            assert f"\n{name}" in text, name
        # what auto_describe buys: a clashing name is refused at registration
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            Gauge("prometheus_ready", "clash", registry=proc.registry)
    finally:
        await proc.shutdown()


async def test_a_reload_is_one_loop_over_the_registered_reloaders(tmp_path: Path) -> None:
    """A subsystem registered with one line gets every config, the first one included; one
    that fails makes the reload fail with its name and reason, and the others still run."""
    from guardia.config.loader import Config
    from guardia.server import Reloader

    proc = _process(tmp_path)
    await proc.start()
    try:
        assert [r.name for r in proc.reloaders] == [
            "web_config", "exemplars", "scrape", "tsdb", "remote_write", "alertmanager", "notifier",
            "remote_query",
            "rules", "probes", "slos", "checks", "audit", "reports", "logs", "log_rules", "dashboards"]
        seen: list[Config] = []
        proc.reloaders.append(Reloader("probe-like", seen.append))
        await proc.reload()
        assert len(seen) == 1 and proc.config is seen[0] and proc.reload_ok

        def broken(cfg: Config) -> None:
            raise RuntimeError("cannot open the probe module")

        proc.reloaders.insert(0, Reloader("broken", broken))
        with pytest.raises(ValueError, match="broken: cannot open the probe module"):
            await proc.reload()
        assert len(seen) == 2  # the reloaders after the broken one still ran
        assert not proc.reload_ok and "broken" in proc.reload_error
        assert proc.registry.get_sample_value("prometheus_config_last_reload_successful") == 0.0
    finally:
        await proc.shutdown()


async def test_accepted_connections_turn_nagle_off() -> None:
    """A keep-alive response goes out in two writes (headers, then body); with Nagle on, the
    second waits for the client's delayed ACK, 40 ms per request on Linux. asyncio disables
    Nagle only when the socket says it is TCP, which the listener decides."""
    import asyncio
    import socket

    from guardia.server import listen_socket

    seen: list[int] = []

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listener = listen_socket("127.0.0.1", 0)
    server = await asyncio.start_server(on_conn, sock=listener)
    try:
        port = listener.getsockname()[1]
        _, w = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.02)
        w.close()
    finally:
        server.close()
        await server.wait_closed()
    assert seen and seen[0] != 0


async def test_keep_alive_requests_to_the_served_app_reuse_one_connection(tmp_path: Path) -> None:
    """The served listener (the one ``guardia serve`` uses) answers many requests on one
    keep-alive connection, the pattern Grafana and Prometheus use."""
    proc = _process(tmp_path)
    await proc.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}",
                                     limits=httpx.Limits(max_connections=1)) as c:
            for _ in range(5):
                r = await c.post("/api/v1/query", data={"query": "1+1"})
                assert r.json()["data"]["result"][1] == "2"
    finally:
        await proc.shutdown()
