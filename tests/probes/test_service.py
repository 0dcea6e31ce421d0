"""Scheduled probes: series in storage, retries, conditions, confirmation, heartbeats and pushes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.testclient import TestClient

from guardia.model import Labels, Matcher, MatchType
from guardia.probes.config import ProbesConfig, load_probes
from guardia.probes.service import ProbeService
from guardia.storage.memory import MemoryStorage
from guardia.web.plain_router import Router
from guardia.web.probe_api import push_routes
from tests.probes.conftest import Targets


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def config(tmp_path: Path, text: str) -> ProbesConfig:
    p = tmp_path / "guardia.yml"
    p.write_text(text)
    return load_probes(str(p))


def select(storage: MemoryStorage, name: str, **labels: str) -> dict[Labels, list[float]]:
    q = storage.querier(0, 2**62)
    ms = [Matcher("__name__", MatchType.EQUAL, name),
          *(Matcher(k, MatchType.EQUAL, v) for k, v in labels.items())]
    return {s.labels: list(s.values) for s in q.select(ms)}


def test_results_are_stored_with_job_and_instance(tmp_path: Path, targets: Targets) -> None:
    cfg = config(tmp_path, f"""
probes:
  - name: api
    module: http_2xx
    targets: ["http://{targets.http}/health"]
    labels: {{team: platform}}
""")
    storage = MemoryStorage()
    svc = ProbeService(storage)
    svc.apply_config(cfg)
    monitor = cfg.monitors[0]
    assert monitor.module is not None
    asyncio.run(svc.probe_once(monitor, monitor.targets[0], monitor.module))
    svc.flush()
    got = select(storage, "probe_success", job="api")
    [(labels, values)] = got.items()
    assert labels.get("instance") == f"http://{targets.http}/health" and labels.get("team") == "platform"
    assert values == [1.0]
    assert select(storage, "probe_http_duration_seconds", job="api", phase="connect")
    assert svc.monitor_status("api") == "up"


def test_condition_failure_fails_the_probe_with_the_value_seen(tmp_path: Path, targets: Targets) -> None:
    cfg = config(tmp_path, f"""
probes:
  - name: api
    module: http_2xx
    targets: ["http://{targets.http}/down"]
    conditions: ["[STATUS] == 200", "[BODY].status == UP"]
""")
    svc = ProbeService(None)
    svc.apply_config(cfg)
    m = cfg.monitors[0]
    assert m.module is not None
    r = asyncio.run(svc.probe_once(m, m.targets[0], m.module))
    assert not r.success and r.reason == "condition [BODY].status == UP failed (value: DOWN)"
    assert r.get("probe_success") == 0


def test_down_only_after_retries(tmp_path: Path) -> None:
    cfg = config(tmp_path, """
probes:
  - {name: db, module: tcp_connect, targets: ["127.0.0.1:1"], retries: 2}
""")
    svc = ProbeService(None)
    svc.apply_config(cfg)
    m = cfg.monitors[0]
    assert m.module is not None
    seen = []
    for _ in range(3):
        asyncio.run(svc.probe_once(m, m.targets[0], m.module))
        seen.append(svc.monitor_status("db"))
    assert seen == ["pending", "pending", "down"]
    [state] = svc.state("db")
    assert "Connection refused" in state.reason and [e[1] for e in state.events] == ["pending", "down"]


def test_confirmation_waits_for_a_second_location(tmp_path: Path) -> None:
    cfg = config(tmp_path, """
probes:
  - name: db
    module: tcp_connect
    targets: ["127.0.0.1:1"]
    confirm: {min_locations: 2}
""")
    clock = Clock()
    storage = MemoryStorage()
    svc = ProbeService(storage, clock=clock, external_labels=lambda: {"location": "madrid"})
    svc.apply_config(cfg)
    m = cfg.monitors[0]
    assert m.module is not None
    asyncio.run(svc.probe_once(m, m.targets[0], m.module))
    [state] = svc.state("db")
    assert state.status == "pending" and "down from 1 of 1 locations" in state.reason
    # another guardia (remote write / federation) reports the same target down from quito
    storage.add_series(Labels({"__name__": "probe_success", "job": "db", "instance": "127.0.0.1:1",
                               "location": "quito"}), [int(clock.t * 1000)], [0.0])
    asyncio.run(svc.probe_once(m, m.targets[0], m.module))
    assert state.status == "down" and "down from 2 of 2 locations" in state.reason


def test_heartbeat_goes_down_after_its_grace_period(tmp_path: Path) -> None:
    cfg = config(tmp_path, """
probes:
  - name: backup
    heartbeat: {token: nightly-backup-7f3a9c2e, period: 60s, grace: 30s}
""")
    clock = Clock()
    storage = MemoryStorage()
    svc = ProbeService(storage, clock=clock)
    svc.apply_config(cfg)
    with TestClient(Router(push_routes(svc))) as client:
        pushed = client.get("/api/push/nightly-backup-7f3a9c2e", params={"status": "up", "msg": "OK"})
        assert pushed.json() == {"ok": True}
        assert client.get("/api/push/wrong-token-000000000").status_code == 404
        assert svc.monitor_status("backup") == "up"
        clock.t += 80  # inside period + grace
        svc._judge_heartbeat(cfg.monitors[0], int(clock.t * 1000))
        assert svc.monitor_status("backup") == "up"
        clock.t += 20  # 100 s since the push: past 60 s + 30 s
        svc._judge_heartbeat(cfg.monitors[0], int(clock.t * 1000))
        [state] = svc.state("backup")
        assert state.status == "down" and state.reason.startswith("no push for 100s")
        client.post("/ping/nightly-backup-7f3a9c2e")
        assert svc.monitor_status("backup") == "up"
        client.post("/ping/nightly-backup-7f3a9c2e/fail", content=b"disk full")
        assert state.status == "down" and "disk full" in state.reason
        listed = client.get("/api/v1/probes").json()["data"][0]
        assert listed["kind"] == "heartbeat" and listed["targets"][0]["reason"].endswith("disk full")
    svc.flush()
    assert select(storage, "probe_success", job="backup", instance="heartbeat")


def test_the_schedule_probes_on_time_and_stops(tmp_path: Path, targets: Targets) -> None:
    cfg = config(tmp_path, f"""
probes:
  - {{name: api, module: http_2xx, targets: ["http://{targets.http}/health"], interval: 1s}}
""")
    storage = MemoryStorage()

    async def run() -> ProbeService:
        svc = ProbeService(storage)
        svc.apply_config(cfg)
        await svc.start()
        await asyncio.sleep(2.6)
        await svc.stop()
        return svc

    svc = asyncio.run(run())
    assert len(svc.lags) >= 2 and max(svc.lags) < 1.0  # the target: no probe starts later than 1 s
    [(_, values)] = select(storage, "probe_success", job="api").items()
    assert len(values) >= 2 and set(values) == {1.0}


def test_reload_with_a_bad_config_keeps_the_running_probes(tmp_path: Path) -> None:
    import pytest

    from guardia.config.errors import ConfigError

    good = tmp_path / "good.yml"
    good.write_text("probes:\n  - {name: db, module: tcp_connect, targets: ['127.0.0.1:1']}\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("probes:\n  - {name: db, module: tcp_conect, targets: ['127.0.0.1:1']}\n")
    svc = ProbeService(None)
    svc.apply_config(load_probes(str(good)))
    with pytest.raises(ConfigError, match=r"bad\.yml:2"):
        svc.apply_config(load_probes(str(bad)))
    assert svc.config.monitors[0].module_name == "tcp_connect"
