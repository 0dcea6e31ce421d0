"""A real restart: rules write ALERTS_FOR_STATE into the embedded TSDB, the process "stops"
(the TSDB is closed), a new TSDB and rule manager open the same directory and the pending
alert resumes with the time it had already spent pending."""

from __future__ import annotations

import time
from pathlib import Path

from guardia.model import Labels
from guardia.rules import RuleManager
from guardia.rules.alerting import AlertingRule, AlertState
from guardia.storage.tsdb import TSDB

MIN = 60_000
RULES = "groups: [{name: g, rules: [{alert: SlowBurn, expr: 'queue_depth > 100', for: 30m}]}]\n"


def _write_input(db: TSDB, t0: int, minutes: range) -> None:
    app = db.appender()
    for i in minutes:
        app.append(Labels({"__name__": "queue_depth", "job": "worker"}), t0 + i * MIN, 500.0)
    app.commit()


def _manager(db: TSDB, rules: Path) -> tuple[RuleManager, AlertingRule]:
    m = RuleManager(db, run_in_thread=False)
    m.update([str(rules)])
    (g,) = m.groups.values()
    rule = g.rules[0]
    assert isinstance(rule, AlertingRule)
    return m, rule


def test_pending_alert_survives_a_restart(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    t0 = (int(time.time() * 1000) // MIN - 60) * MIN  # an hour ago, on a minute boundary
    db = TSDB.open(tmp_path / "data")
    _write_input(db, t0, range(0, 12))
    m, rule = _manager(db, rules)
    (g,) = m.groups.values()
    g.should_restore = False
    for r in g.rules:
        if isinstance(r, AlertingRule):
            r.restored = True
    for i in range(10):  # pending from t0 to t0+9m
        g.eval(t0 + i * MIN)
    assert rule.state() == AlertState.PENDING
    db.close()

    db2 = TSDB.open(tmp_path / "data")  # the new process
    try:
        _write_input(db2, t0, range(12, 45))
        m2, rule2 = _manager(db2, rules)
        (g2,) = m2.groups.values()
        g2.eval(t0 + 11 * MIN)
        g2.eval(t0 + 12 * MIN)
        g2.restore_for_state(t0 + 12 * MIN)
        (alert,) = rule2.active.values()
        # 9 minutes pending before the stop, 3 minutes away (9m → 12m): active since 3m.
        assert alert.active_at_ms == t0 + 3 * MIN
        for i in range(13, 34):
            g2.eval(t0 + i * MIN)
            if alert.state == AlertState.FIRING:
                break
        assert alert.fired_at_ms == t0 + 33 * MIN
    finally:
        db2.close()
