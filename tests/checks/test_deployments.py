"""Deployments become the series of the contract other packages read; the DORA checks compute
frequency, days since the last deployment, change failure rate, lead time and time to restore."""

from __future__ import annotations

import pytest

from guardia.checks.config import ChecksConfig, parse_checks
from guardia.checks.deployments import DeploymentError, DeploymentRecorder, parse_deployment, read_deployments
from guardia.checks.dora import DAY_MS, compute
from guardia.checks.service import CheckService
from guardia.config.yamlsource import YamlSource
from guardia.model import Matcher, MatchType
from guardia.storage.memory import MemoryStorage

NOW = 1_764_000_000.0  # a fixed clock, in seconds
H = 3600


def _post(rec: DeploymentRecorder, **payload: object) -> None:
    rec.record(payload)


def _series(db: MemoryStorage, name: str) -> list[tuple[dict[str, str], list[int], list[float]]]:
    q = db.querier(0, 2**62)
    out = [(dict(s.labels), s.timestamps.tolist(), s.values.tolist())
           for s in q.select([Matcher("__name__", MatchType.EQUAL, name)], sort=True)]
    q.close()
    return out


def test_the_series_contract() -> None:
    db = MemoryStorage()
    rec = DeploymentRecorder(db, clock=lambda: NOW)
    _post(rec, service="api", version="1.4.0", status="success", started=NOW - 600, finished=NOW - 60,
          commit="abc123", commit_time="2025-11-24T15:00:00Z")
    _post(rec, service="api", version="1.4.1", status="rolled_back", started=NOW - 50, commit="def456")
    info = _series(db, "guardia_deployment_info")
    assert info == [
        ({"__name__": "guardia_deployment_info", "service": "api", "version": "1.4.0", "status": "success",
          "commit": "abc123"}, [int((NOW - 60) * 1000)], [NOW - 60]),
        ({"__name__": "guardia_deployment_info", "service": "api", "version": "1.4.1",
          "status": "rolled_back", "commit": "def456"}, [int(NOW * 1000)], [NOW]),
    ]
    commit_time = 1_763_996_400  # 2025-11-24T15:00:00Z
    assert _series(db, "guardia_deployment_lead_time_seconds") == [
        ({"__name__": "guardia_deployment_lead_time_seconds", "service": "api", "version": "1.4.0"},
         [int((NOW - 60) * 1000)], [NOW - 60 - commit_time]),
    ]
    back = read_deployments(db, 0, int(NOW * 1000))
    assert [(d.version, d.status) for d in back] == [("1.4.0", "success"), ("1.4.1", "rolled_back")]


@pytest.mark.parametrize(("payload", "message"), [
    ({"version": "1", "status": "success"}, "service is required"),
    ({"service": "a", "version": "1", "status": "ok"},
     "status 'ok' must be one of success, failed, rolled_back"),
    ({"service": "a", "version": "1", "status": "success", "finished": "yesterday"},
     "finished 'yesterday' is not an RFC 3339 time"),
    ({"service": "a", "version": "1", "status": "success", "started": NOW + 10, "finished": NOW},
     "started is after finished"),
    ({"service": "a", "version": "1", "status": "success", "env": "prod"}, "unknown field 'env'"),
    ({"service": "a", "version": "1", "status": "success", "finished": "2025-11-24T15:00:00"},
     "has no time zone"),
    ([1, 2], "the body must be a JSON object"),
])
def test_bad_deployments_name_the_field(payload: object, message: str) -> None:
    with pytest.raises(DeploymentError, match=message.replace("(", r"\(")):
        parse_deployment(payload, int(NOW * 1000))


def _history() -> MemoryStorage:
    db = MemoryStorage()
    rec = DeploymentRecorder(db, clock=lambda: NOW)
    # web: deploys every day for 5 days; one failure restored 2h later
    for day in range(5, 0, -1):
        t = NOW - day * 86400
        _post(rec, service="web", version=f"2.{day}", status="success", started=t - 1800, finished=t)
    _post(rec, service="web", version="2.0-bad", status="failed", finished=NOW - 4 * 86400 + H)
    _post(rec, service="web", version="2.0-fix", status="success", started=NOW - 4 * 86400 + 2 * H,
          finished=NOW - 4 * 86400 + 3 * H)
    # batch: last deployed 10 days ago
    _post(rec, service="batch", version="9", status="success", started=NOW - 10 * 86400 - 60,
          finished=NOW - 10 * 86400)
    return db


def test_dora_metrics() -> None:
    ds = read_deployments(_history(), 0, int(NOW * 1000))
    now, window = int(NOW * 1000), 30 * DAY_MS
    web, batch = (("service", "web"),), (("service", "batch"),)
    assert compute("deployments", ds, now, window) == {batch: 1.0, web: 6.0}
    since = compute("days_since_deployment", ds, now, window)
    assert since[batch] == pytest.approx(10.0) and since[web] == pytest.approx(1.0)
    assert compute("change_failure_rate", ds, now, window) == {batch: 0.0, web: pytest.approx(1 / 7)}
    lead = compute("lead_time_seconds", ds, now, window)
    assert lead[batch] == 60.0 and lead[web] == pytest.approx((5 * 1800 + H) / 6)
    assert compute("time_to_restore_seconds", ds, now, window) == {web: 2 * H}


async def test_dora_checks_with_seed_004_defaults() -> None:
    cfg = parse_checks(YamlSource("guardia.yml", {"checks": [{"name": "dora", "dora": {}}]}))
    by = cfg.by_name()
    assert sorted(by) == ["dora_change_failure_rate", "dora_days_since_deployment", "dora_deployments",
                          "dora_lead_time_seconds", "dora_time_to_restore_seconds"]
    assert {k: str(v) for k, v in by["dora_days_since_deployment"].thresholds.items()} == {"critical": "> 7"}
    assert {k: str(v) for k, v in by["dora_change_failure_rate"].thresholds.items()} == {"warning": "> 0.2"}
    svc = CheckService(_history(), clock=lambda: NOW)
    svc.load(cfg)
    out = await svc.run_all()
    assert out["dora_days_since_deployment"].ok
    assert dict(out["dora_days_since_deployment"].rows)[(("service", "batch"),)] == pytest.approx(10.0)


def test_dora_entry_refuses_its_own_thresholds() -> None:
    from guardia.config.errors import ConfigError

    with pytest.raises(ConfigError, match="a dora entry has its own thresholds"):
        parse_checks(YamlSource("guardia.yml", {"checks": [{"name": "d", "dora": {}, "warning": "> 1"}]}))
    assert parse_checks(YamlSource("g.yml", {})) == ChecksConfig()
