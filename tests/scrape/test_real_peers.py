"""Against real peers: node exporter, prometheus_client (OpenMetrics), and Prometheus itself.

Prometheus 2.42 scrapes the same targets with the same config; the same series (label sets)
must end up stored by both.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from pathlib import Path

from guardia.model import Labels, Matcher
from guardia.scrape.manager import ScrapeManager
from guardia.scrape.protoingest import om_float
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import config, wait_for
from tests.scrape.peers import client_app, node_exporter, prometheus, prometheus_get


def _config(node: str, app: str) -> str:
    return f"""
global: {{scrape_interval: 1s, scrape_timeout: 900ms}}
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['{node}'], labels: {{env: test}}}}]
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: 'node_cpu_guest.*', action: drop}}
  - job_name: app
    static_configs: [{{targets: ['{app}']}}]
    relabel_configs:
      - {{source_labels: [__address__], regex: '(.*):(\\d+)', target_label: port, replacement: '$2'}}
      - {{source_labels: [__address__], modulus: 7, target_label: shard, action: hashmod}}
      - {{regex: '__(scheme|metrics_path)__', action: labelmap}}
      - {{source_labels: [job], target_label: job_upper, action: uppercase}}
      - {{source_labels: [job_upper], target_label: job_lower, action: lowercase}}
      - {{source_labels: [__address__], target_label: __address__, action: keepequal}}
      - {{source_labels: [__address__], regex: '(?P<host>[^:]+):.*', target_label: host,
          replacement: '$host'}}
    metric_relabel_configs:
      - {{source_labels: [__name__, method], separator: '@', regex: 'app_requests_total@(.*)',
          target_label: verb, replacement: '${{1}}'}}
      - {{regex: 'job_lower', action: labeldrop}}
"""


def _guardia_series(storage: MemoryStorage) -> set[Labels]:
    q = storage.querier(0, 2**62)
    return {s.labels for s in q.select([Matcher.parse("job", "=~", ".+")])}


def _prometheus_series(base: str) -> set[Labels]:
    now = time.time()
    qs = urllib.parse.urlencode({"match[]": '{job=~".+"}', "start": now - 600, "end": now + 60})
    data = prometheus_get(base, "/api/v1/series?" + qs)
    assert isinstance(data, list)
    return {Labels(d) for d in data}


def _as_prometheus3(s: Labels) -> Labels:
    d = dict(s)
    for k in ("le", "quantile"):
        if k in d:
            d[k] = om_float(float(d[k]))
    return Labels(d)


async def test_same_series_as_prometheus(tmp_path: Path) -> None:
    with node_exporter() as node, client_app() as app:
        text = _config(node, app)
        with prometheus(text, tmp_path) as prom:
            storage = MemoryStorage()
            mgr = ScrapeManager(storage, poll_interval=0.2)
            mgr.apply_config(config(text))
            task = asyncio.create_task(mgr.run())
            try:
                await wait_for(lambda: len(mgr.targets()) == 2
                               and all(t.health == "up" for t in mgr.targets()), timeout=15)
                await asyncio.sleep(2.5)

                def prom_up() -> bool:
                    targets = prometheus_get(prom, "/api/v1/targets")["activeTargets"]  # type: ignore[index]
                    return len(targets) == 2 and all(t["health"] == "up" for t in targets)

                await wait_for(prom_up, timeout=20)
                await asyncio.sleep(1.5)
                # Prometheus 3 (and guardia) write le/quantile values as OpenMetrics floats
                # (le="1.0") in every format; 2.42 kept the text format's spelling
                theirs = {_as_prometheus3(s) for s in _prometheus_series(prom)}
                ours = _guardia_series(storage)
            finally:
                await mgr.stop()
                task.cancel()
    for t in mgr.targets():
        assert t.health == "up", t.last_error
    assert ours - theirs == set(), sorted(str(s) for s in ours - theirs)[:20]
    assert theirs - ours == set(), sorted(str(s) for s in theirs - ours)[:20]
    # OpenMetrics details made it through: _created series, escaped label values, info/enum.
    names = {s.name for s in ours}
    assert {"app_requests_total", "app_requests_created", "app_build_info", "app_state"} <= names
    assert any(s.get("path") == '/b"quoted"\\' for s in ours)
    app_series = [s for s in ours if s.get("job") == "app"]
    assert all(s.get("port") and s.get("shard") and s.get("job_upper") == "APP" for s in app_series)
    assert all(s.get("scheme") == "http" and s.get("host") == "127.0.0.1" for s in app_series)
    assert any(s.get("verb") == "GET" for s in app_series)
    assert not any(s.name.startswith("node_cpu_guest") for s in ours)
    assert len([s for s in ours if s.get("job") == "node"]) > 50


async def test_openmetrics_metadata_from_prometheus_client() -> None:
    with client_app() as app:
        storage = MemoryStorage()
        mgr = ScrapeManager(storage, poll_interval=0.2)
        mgr.apply_config(config(f"scrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n"
                                f"    scrape_timeout: 1s\n    static_configs: [{{targets: ['{app}']}}]\n"))
        task = asyncio.create_task(mgr.run())
        try:
            await wait_for(lambda: bool(mgr.targets()) and mgr.targets()[0].health == "up")
            md = {e.metric: e for e in mgr.metadata()}
        finally:
            await mgr.stop()
            task.cancel()
    assert md["app_temperature_celsius"].unit == "celsius"
    assert md["app_temperature_celsius"].help == "Temperature\nwith newline help."
    assert md["app_latency_seconds"].type == "histogram"
    assert md["app_build"].type == "info"
    assert md["app_state"].type == "stateset"
