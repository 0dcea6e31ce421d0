"""Alert states, ALERTS series, templates, notifications and `for` restored after a restart."""

from __future__ import annotations

from collections.abc import Sequence

from tests.rules.conftest import MIN, make_group, series

from guardia.model import Labels, is_stale_nan
from guardia.rules.alerting import Alert, AlertingRule, AlertState
from guardia.storage.memory import MemoryStorage

RULES = """
groups:
  - name: g
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels:
          severity: page
          team: '{{ $labels.job }}-team'
        annotations:
          summary: '{{ $labels.instance }} down (value {{ $value }}) in {{ $externalLabels.site }}'
          link: '{{ $externalURL }}'
"""


def _up(storage: MemoryStorage, values: Sequence[float], instance: str = "a:1") -> None:
    storage.add_series(Labels({"__name__": "up", "job": "api", "instance": instance}),
                       [i * MIN for i in range(len(values))], list(values))


def _rule(g: object) -> AlertingRule:
    r = g.rules[0]  # type: ignore[attr-defined]
    assert isinstance(r, AlertingRule)
    return r


def test_pending_then_firing_then_resolved() -> None:
    storage = MemoryStorage()
    _up(storage, [1, 0, 0, 0, 0, 1, 1])
    g = make_group(RULES, storage, external_labels={"site": "madrid"})
    r = _rule(g)
    states = []
    for i in range(7):
        g.eval(i * MIN)
        states.append(str(r.state()) if r.active_alerts() else "inactive")
    assert states == ["inactive", "pending", "pending", "firing", "firing", "inactive",
                      "inactive"]
    a = next(iter(r.active.values()))  # kept as resolved for 15m
    assert a.state == AlertState.INACTIVE
    assert (a.active_at_ms, a.fired_at_ms, a.resolved_at_ms) == (MIN, 3 * MIN, 5 * MIN)
    assert dict(a.labels) == {"alertname": "InstanceDown", "instance": "a:1", "job": "api",
                              "severity": "page", "team": "api-team"}
    assert a.annotations == {"summary": "a:1 down (value 0) in madrid",
                             "link": "http://guardia.example:9090"}


def test_alerts_series_follow_the_state() -> None:
    storage = MemoryStorage()
    _up(storage, [0, 0, 0, 0, 1])
    g = make_group(RULES, storage)
    for i in range(5):
        g.eval(i * MIN)
    alerts = series(storage, "ALERTS")
    base = {"__name__": "ALERTS", "alertname": "InstanceDown", "instance": "a:1",
            "job": "api", "severity": "page", "team": "api-team"}
    pending = alerts[Labels({**base, "alertstate": "pending"})]
    firing = alerts[Labels({**base, "alertstate": "firing"})]
    assert [t for t, v in pending if not is_stale_nan(v)] == [0, MIN]
    assert is_stale_nan(pending[-1][1]) and pending[-1][0] == 2 * MIN
    assert [t for t, v in firing if not is_stale_nan(v)] == [2 * MIN, 3 * MIN]
    assert is_stale_nan(firing[-1][1]) and firing[-1][0] == 4 * MIN
    for_state = series(storage, "ALERTS_FOR_STATE")
    (ls, pts), = for_state.items()
    assert "alertstate" not in ls
    assert {v for _, v in pts if not is_stale_nan(v)} == {0.0}  # activeAt in seconds


def test_keep_firing_for_holds_the_alert_after_the_condition_clears() -> None:
    storage = MemoryStorage()
    _up(storage, [0, 0, 1, 1, 1, 1])
    g = make_group("""
groups:
  - name: g
    rules:
      - alert: Flappy
        expr: up == 0
        keep_firing_for: 2m
""", storage)
    r = _rule(g)
    seen = []
    for i in range(6):
        g.eval(i * MIN)
        seen.append(str(r.state()) if r.active_alerts() else "inactive")
    assert seen == ["firing", "firing", "firing", "firing", "inactive", "inactive"]


def test_resolved_alerts_are_sent_and_kept_for_15_minutes() -> None:
    storage = MemoryStorage()
    _up(storage, [0, 0, 0, 1] + [1] * 20)
    sent: list[tuple[int, str, str]] = []
    t_now = [0]

    def notify(expr: str, alerts: Sequence[Alert]) -> None:
        sent.extend((t_now[0], str(a.state), expr) for a in alerts)

    g = make_group(RULES, storage, notify=notify)
    r = _rule(g)
    for i in range(24):
        t_now[0] = i * MIN
        g.eval(i * MIN)
    # Firing at 2m (sent), resend_delay 1m: resent once the delay has passed (every 2nd
    # 1m evaluation), resolved at 3m (sent at once), then resent while kept (15m).
    assert sent[0] == (2 * MIN, "firing", "up == 0")
    assert (3 * MIN, "inactive", "up == 0") in sent
    resolved_sends = [t for t, s, _ in sent if s == "inactive"]
    assert resolved_sends[0] == 3 * MIN and resolved_sends[-1] <= 18 * MIN
    assert not r.active  # dropped after the 15m retention


def test_template_error_goes_into_the_annotation_and_evaluation_continues() -> None:
    storage = MemoryStorage()
    _up(storage, [0, 0, 0])
    g = make_group("""
groups:
  - name: g
    rules:
      - alert: BadTemplate
        expr: up == 0
        annotations:
          summary: '{{ $value | humanize }} and {{ .Labels.instance.Missing }}'
      - record: after
        expr: count(up)
""", storage)
    g.eval(0)
    a = next(iter(_rule(g).active.values()))
    # Same text as Prometheus 2.42 produces for this template (checked with promtool).
    assert a.annotations["summary"] == (
        "<error expanding template: error executing template __alert_BadTemplate: template: "
        "__alert_BadTemplate:1:150: executing \"__alert_BadTemplate\" at "
        "<.Labels.instance.Missing>: can't evaluate field Missing in type string>")
    assert g.rules[0].health.health == "ok"
    assert series(storage, "after")


def test_duplicate_alert_labelsets_fail_the_rule() -> None:
    storage = MemoryStorage()
    _up(storage, [0], instance="a:1")
    _up(storage, [0], instance="b:1")
    g = make_group("""
groups:
  - name: g
    rules:
      - alert: Collapse
        expr: up == 0
        labels: {instance: same}
""", storage)
    g.eval(0)
    assert g.rules[0].health.last_error == (
        "vector contains metrics with the same labelset after applying alert labels")


RESTORE_RULES = """
groups:
  - name: g
    rules:
      - alert: SlowBurn
        expr: up == 0
        for: 30m
"""


def test_restart_during_for_resumes_pending_with_its_original_active_time() -> None:
    storage = MemoryStorage()
    _up(storage, [0] * 40)
    before = make_group(RESTORE_RULES, storage)
    for i in range(6):  # pending from 0 to 5m
        before.eval(i * MIN)
    assert next(iter(_rule(before).active.values())).active_at_ms == 0
    # Restart: a new process, same storage.  Prometheus evaluates twice, then restores.
    after = make_group(RESTORE_RULES, storage, restore=True)
    after.eval(6 * MIN)
    after.eval(7 * MIN)
    fresh = next(iter(_rule(after).active.values()))
    assert fresh.active_at_ms == 6 * MIN  # before restoring it looks new
    assert series(storage, "ALERTS_FOR_STATE")  # only the old process's samples so far
    after.restore_for_state(7 * MIN)
    restored = next(iter(_rule(after).active.values()))
    # The 5 minutes spent pending before the restart count; the outage (5m→7m) does not,
    # as in Prometheus: active since 0 plus the 2m the process was away.
    assert restored.active_at_ms == 2 * MIN
    assert restored.state == AlertState.PENDING
    for i in range(8, 33):
        after.eval(i * MIN)
        if restored.state == AlertState.FIRING:
            break
    assert restored.fired_at_ms == 32 * MIN  # 30m of pending, the restart gap excluded


def test_restart_while_firing_restores_the_original_active_time() -> None:
    storage = MemoryStorage()
    _up(storage, [0] * 50)
    before = make_group(RESTORE_RULES, storage)
    for i in range(35):
        before.eval(i * MIN)
    assert _rule(before).state() == AlertState.FIRING
    after = make_group(RESTORE_RULES, storage, restore=True)
    after.eval(36 * MIN)
    after.eval(37 * MIN)
    after.restore_for_state(37 * MIN)
    a = next(iter(_rule(after).active.values()))
    assert a.active_at_ms == 0
    after.eval(38 * MIN)
    assert a.state == AlertState.FIRING


def test_no_restore_beyond_the_outage_tolerance() -> None:
    storage = MemoryStorage()
    _up(storage, [0] * 200)
    before = make_group(RESTORE_RULES, storage)
    for i in range(5):
        before.eval(i * MIN)
    after = make_group(RESTORE_RULES, storage, restore=True)
    after.eval(100 * MIN)
    after.eval(101 * MIN)
    after.restore_for_state(101 * MIN)  # last ALERTS_FOR_STATE is 97m old (> 1h)
    assert next(iter(_rule(after).active.values())).active_at_ms == 100 * MIN


def test_short_for_is_not_restored_within_the_grace_period() -> None:
    storage = MemoryStorage()
    _up(storage, [0] * 20)
    before = make_group(RULES, storage)  # for: 2m < for-grace-period 10m
    before.eval(0)
    after = make_group(RULES, storage, restore=True)
    after.eval(MIN)
    after.restore_for_state(MIN)
    a = next(iter(_rule(after).active.values()))
    assert a.active_at_ms == MIN and _rule(after).restored


async def test_running_group_restores_after_its_second_evaluation() -> None:
    import asyncio
    import time as _time

    storage = MemoryStorage()
    now = int(_time.time() * 1000)
    storage.add_series(Labels({"__name__": "up", "job": "api", "instance": "a:1"}),
                       [now - 60_000 + i * 1000 for i in range(120)], [0.0] * 120)
    g = make_group("""
groups:
  - name: g
    interval: 100ms
    rules:
      - alert: Down
        expr: up == 0
        for: 1h
""", storage, restore=True, for_grace_period_ms=0)
    stop = asyncio.Event()
    task = asyncio.create_task(g.run(stop))
    while g.evaluations < 4:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    rule = _rule(g)
    assert rule.restored
    (pts,) = series(storage, "ALERTS").values()
    # Nothing written by the first two evaluations: ALERTS start after the restore.
    assert len(pts) == g.evaluations - 2
