"""GuardiaProcess in-process: every subsystem registers on one auto_describe registry."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge

from guardia.alerting import Alertmanager
from guardia.config.loader import load_config
from guardia.web.process import GuardiaProcess, ServeOptions

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


def test_alertmanager_registers_on_an_auto_describe_registry(tmp_path: Path) -> None:
    cfg = load_config(str(_write(tmp_path)))
    assert cfg.alertmanager is not None
    registry = CollectorRegistry(auto_describe=True)
    am = Alertmanager(cfg.alertmanager, data_dir=tmp_path / "am", registry=registry)
    assert am is not None
    assert registry.get_sample_value("alertmanager_alerts", {"state": "active"}) == 0.0


async def test_process_runs_on_an_auto_describe_registry(tmp_path: Path) -> None:
    opts = ServeOptions(
        config_file=str(_write(tmp_path)),
        listen_address="127.0.0.1:0",
        storage_path=str(tmp_path / "data"),
    )
    proc = GuardiaProcess(opts)
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
