"""ScrapeManager: targets from config and files, loops kept across reloads, API accessors."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from guardia.model.samples import is_stale_nan
from guardia.scrape.manager import ScrapeManager
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Sink, config, respond, select, wait_for


def _cfg(static: list[str], file_glob: str | None = None, extra: str = "") -> str:
    text = (
        "global: {scrape_interval: 1s, scrape_timeout: 900ms}\n"
        "scrape_configs:\n  - job_name: app\n"
        f"    static_configs: [{{targets: {json.dumps(static)}, labels: {{env: test}}}}]\n"
        "    relabel_configs:\n"
        "      - {source_labels: [__address__], regex: '.*:1', action: drop}\n"
    )
    if file_glob:
        text += f"    file_sd_configs: [{{files: ['{file_glob}'], refresh_interval: 1s}}]\n"
    return text + extra


async def test_reload_keeps_unchanged_loops_and_stales_removed_targets(tmp_path: Path) -> None:
    a = Sink(respond("m_a 1\n# TYPE m_a gauge\n"))
    b = Sink(respond("m_b 2\n"))
    storage = MemoryStorage()
    reg = CollectorRegistry()
    # A long poll: the reload below must take effect at once, not at the next poll.
    mgr = ScrapeManager(storage, reg, poll_interval=60)
    mgr.apply_config(config(_cfg([a.address, b.address, "127.0.0.1:1"])))
    task = asyncio.create_task(mgr.run())
    try:
        await wait_for(lambda: len(mgr.targets()) == 2 and all(t.health == "up" for t in mgr.targets()))
        (dropped,) = mgr.dropped_targets()
        assert dropped.discovered_labels["__address__"] == "127.0.0.1:1"
        assert dropped.discovered_labels["job"] == "app"
        loop_a = next(lp for lp in mgr.loops() if lp.target.labels["__address__"] == a.address)
        t = loop_a.target.as_api()
        assert t["labels"] == {"env": "test", "instance": a.address, "job": "app"}
        assert t["health"] == "up" and t["scrapeUrl"] == f"http://{a.address}/metrics"
        assert t["discoveredLabels"]["__scrape_interval__"] == "1s"  # type: ignore[index]
        md = mgr.metadata()
        assert any(e.metric == "m_a" and e.type == "gauge" for e in md)

        mgr.apply_config(config(_cfg([a.address])))
        await wait_for(lambda: len(mgr.targets()) == 1)
        assert mgr.loops()[0] is loop_a
        (mb,) = select(storage, __name__="m_b")
        assert is_stale_nan(float(mb.values[-1]))
        (up_b,) = select(storage, __name__="up", instance=b.address)
        assert is_stale_nan(float(up_b.values[-1]))
        assert reg.get_sample_value("prometheus_target_scrape_pool_targets", {"scrape_job": "app"}) == 1
        sd = {"config": "app", "name": "scrape"}
        assert reg.get_sample_value("prometheus_sd_discovered_targets", sd) == 1
    finally:
        await mgr.stop()
        task.cancel()
        a.close()
        b.close()


async def test_file_sd_targets_appear_and_a_broken_file_is_reported(tmp_path: Path) -> None:
    c = Sink(respond("m_c 3\n"))
    f = tmp_path / "targets.json"
    f.write_text("[]")
    storage = MemoryStorage()
    reg = CollectorRegistry()
    mgr = ScrapeManager(storage, reg, poll_interval=0.1)
    mgr.apply_config(config(_cfg([], str(tmp_path / "*.json"))))
    task = asyncio.create_task(mgr.run())
    try:
        await asyncio.sleep(0.2)
        assert mgr.targets() == []
        f.write_text(json.dumps([{"targets": [c.address], "labels": {"team": "x"}}]))
        os.utime(f, (f.stat().st_atime + 5, f.stat().st_mtime + 5))
        await wait_for(lambda: len(mgr.targets()) == 1 and mgr.targets()[0].health == "up")
        assert mgr.targets()[0].labels["team"] == "x"
        f.write_text("[{broken")
        os.utime(f, (f.stat().st_atime + 10, f.stat().st_mtime + 10))
        await wait_for(lambda: bool(mgr.discovery_errors()))
        assert len(mgr.targets()) == 1
        assert "invalid JSON" in mgr.discovery_errors()["app"][0]
        assert (reg.get_sample_value("prometheus_sd_file_read_errors_total") or 0) >= 1
    finally:
        await mgr.stop()
        task.cancel()
        c.close()


async def test_target_limit_stops_the_pool_and_keep_dropped_targets_caps_the_list() -> None:
    a, b = Sink(respond("x 1\n")), Sink(respond("x 1\n"))
    text = _cfg([a.address, b.address, "127.0.0.1:1", "127.0.0.2:1"]) + (
        "    target_limit: 1\n    keep_dropped_targets: 1\n"
    )
    mgr = ScrapeManager(MemoryStorage(), poll_interval=0.1)
    mgr.apply_config(config(text))
    try:
        await mgr.sync()
        assert mgr.loops() == []
        assert len(mgr.targets()) == 2
        assert all("target_limit exceeded (number of targets: 2, limit: 1)" in t.last_error
                   for t in mgr.targets())
        assert len(mgr.dropped_targets()) == 1
    finally:
        await mgr.stop()
        a.close()
        b.close()


def test_scrape_pools_total_counts_pools_created_across_reloads() -> None:
    """Prometheus's ``prometheus_target_scrape_pools_total`` is a counter of pools created (a
    reload that keeps a job keeps its pool), so ``promtool check metrics`` has no lint for it."""
    reg = CollectorRegistry()
    mgr = ScrapeManager(MemoryStorage(), reg, poll_interval=60)
    other = "  - job_name: other\n    static_configs: [{targets: ['127.0.0.1:8']}]\n"
    two = _cfg(["127.0.0.1:9"], extra=other)
    mgr.apply_config(config(two))
    assert reg.get_sample_value("prometheus_target_scrape_pools_total") == 2
    mgr.apply_config(config(two))  # same jobs: no new pool
    mgr.apply_config(config(_cfg(["127.0.0.1:7"])))  # a changed job keeps its name: no new pool
    assert reg.get_sample_value("prometheus_target_scrape_pools_total") == 2
    mgr.apply_config(config(two))  # "other" comes back: a new pool
    assert reg.get_sample_value("prometheus_target_scrape_pools_total") == 3
