"""Rules evaluated against a remote engine fire as they do against guardia's own store: whole
queries pushed down to a real VictoriaMetrics' PromQL API, and series read from a real
Prometheus through remote read and evaluated by guardia's engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from guardia.config.prometheus import RemoteReadConfig
from guardia.model import Matcher, MatchType
from guardia.storage.interface import SelectHints
from guardia.storage.remote.query_api import PromQLAPIClient, RemoteQueryError
from guardia.storage.remote.read_client import RemoteReadClient, RemoteReadError
from tests.storage.remote.peers import Proc, free_port, guardia, prometheus_receiver, victoria

RULES = """
groups:
{groups}
"""

GROUP = """
  - name: {name}
    interval: 1s{source}
    rules:
      - alert: Scraped
        expr: sum by (job, instance) (scrape_samples_scraped{{job="guardia"}}) > 10
        labels: {{severity: info}}
      - alert: NeverFires
        expr: up{{job="guardia"}} == 0
      - record: {name}:up:count
        expr: count by (job) (up{{job="guardia"}})
"""


def _setup(tmp: Path, receiver: Proc, source: str) -> Proc:
    port = free_port()
    groups = GROUP.format(name="local", source="")
    groups += GROUP.format(name="central", source=f"\n    source: {source}")
    (tmp / "rules.yml").write_text(RULES.format(groups=groups))
    cfg = tmp / "guardia.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 500ms, evaluation_interval: 1s}}
rule_files: [rules.yml]
scrape_configs:
  - job_name: guardia
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {receiver.url}/api/v1/write
    queue_config: {{batch_send_deadline: 200ms}}
remote_read:
  - url: {receiver.url}/api/v1/read
    name: central
""")
    return guardia(tmp, cfg, port)


def _rules(g: Proc) -> dict[str, dict[str, Any]]:
    data = g.http.get("/api/v1/rules").json()["data"]
    return {grp["name"]: {r["name"]: r for r in grp["rules"]} for grp in data["groups"]}


def _fire_alike(g: Proc) -> None:
    deadline = time.time() + 40
    while True:
        rules = _rules(g)
        local, central = rules.get("local", {}), rules.get("central", {})
        firing = {k: sorted(str(a["labels"]) for a in grp["Scraped"]["alerts"] if a["state"] == "firing")
                  for k, grp in (("local", local), ("central", central)) if "Scraped" in grp}
        if len(firing) == 2 and firing["local"] and firing["local"] == firing["central"]:
            break
        assert time.time() < deadline, (firing, central.get("Scraped", {}).get("lastError"))
        time.sleep(0.5)
    assert central["Scraped"]["health"] == "ok" and central["NeverFires"]["alerts"] == []
    assert central["NeverFires"]["health"] == "ok"
    # the recording rule evaluated remotely is stored locally, with the same value (it comes
    # after the alerts in its group: the rules API may have been read between the two)
    deadline = time.time() + 20
    while not (got := g.query("central:up:count", time.time())["result"]) and time.time() < deadline:
        time.sleep(0.25)
    assert [s["value"][1] for s in got] == ["1"]


def test_rules_pushed_down_to_victoriametrics_fire_as_locally(tmp_path: Path, procs: list[Proc]) -> None:
    vm = victoria(tmp_path)
    procs.append(vm.start())
    g = _setup(tmp_path, vm, "central")  # the engine named by a remote_read entry: PromQL API
    procs.append(g.start())
    _fire_alike(g)


def test_rules_over_prometheus_remote_read_fire_as_locally(tmp_path: Path, procs: list[Proc]) -> None:
    prom = prometheus_receiver(tmp_path)
    procs.append(prom.start())
    g = _setup(tmp_path, prom, "remote_read:central")
    procs.append(g.start())
    _fire_alike(g)
    # the querier itself: the same samples as guardia's own store
    client = RemoteReadClient(RemoteReadConfig(url=f"{prom.url}/api/v1/read"), {})
    time.sleep(3)  # a few scrapes, sent
    t = time.time() - 1
    sel = [Matcher("__name__", MatchType.EQUAL, "up"), Matcher("job", MatchType.EQUAL, "guardia")]
    remote = client.querier(int((t - 5) * 1000), int(t * 1000)).select(sel, SelectHints(
        start=int((t - 5) * 1000), end=int(t * 1000)))
    local = g.query('up{job="guardia"}[5s]', t)["result"]
    assert local and remote, (local, len(remote), g.query("up", t))
    assert [round(float(ts) * 1000) for ts, _ in local[0]["values"]] == remote[0].timestamps.tolist()
    client.close()


def test_unreachable_or_wrong_engines_are_clear_errors(tmp_path: Path) -> None:
    port = free_port()
    cfg = RemoteReadConfig(url=f"http://127.0.0.1:{port}/api/v1/read", name="gone", remote_timeout="2s")
    with pytest.raises(RemoteQueryError, match="gone: ConnectError"):
        PromQLAPIClient(cfg).instant("up", 0)
    with pytest.raises(RemoteReadError, match="remote_read gone: ConnectError"):
        RemoteReadClient(cfg, {}).querier(0, 1000).select([Matcher("__name__", MatchType.EQUAL, "up")])


def test_a_source_naming_no_engine_is_refused_with_its_line(tmp_path: Path) -> None:
    from guardia.config.errors import ConfigError
    from guardia.config.loader import load_config

    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("rule_files: [rules.yml]\nremote_read:\n"
                   "  - {url: 'http://vm:8428/api/v1/read', name: central}\n")
    for source, want in (
        ("promql:centrl", "rules.yml:3:13: groups[0].source: source 'promql:centrl': no remote_read entry "
                          "is named 'centrl' (the named ones: central)"),
        ("'bad source'", "rules.yml:3:13: groups[0].source: source 'bad source' is not a query source"),
    ):
        (tmp_path / "rules.yml").write_text(f"groups:\n  - name: g\n    source: {source}\n    rules: []\n")
        with pytest.raises(ConfigError) as e:
            load_config(cfg)
        assert want in str(e.value)
