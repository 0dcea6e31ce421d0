"""The notify-test log stays bounded and keeps the evidence the audit reads."""

from __future__ import annotations

from pathlib import Path

from guardia.alerting.notify_test import NotifyTestLog, latest
from guardia.alerting.notify_test import TestOutcome as Outcome


def _outcome(t: float, receiver: str, ok: bool = True) -> Outcome:
    return Outcome(time=t, receiver=receiver, integration="webhook[0]", ok=ok,
                       error="" if ok else "HTTP 404 " + "x" * 200)


def test_a_long_history_is_cut_to_the_newest_records_of_each_integration(tmp_path: Path) -> None:
    log = NotifyTestLog(tmp_path, max_bytes=20_000, keep_per_integration=5)
    for i in range(300):  # a cron job testing two receivers every hour for weeks
        log.append([_outcome(float(i), "team-a", ok=i % 2 == 0), _outcome(float(i), "team-b")])
    assert log.path.stat().st_size <= 20_000 + 1_000
    got = log.read()
    assert got.problems == []
    times = {r: sorted(o.time for o in got.records if o.receiver == r) for r in ("team-a", "team-b")}
    # whatever was cut last, each integration keeps at least its newest five, the newest last
    for ts in times.values():
        assert ts[-5:] == [295.0, 296.0, 297.0, 298.0, 299.0]
    newest = latest(got.records)
    assert not newest[("team-a", "webhook[0]")].ok  # 299 is odd: the last test failed
    assert newest[("team-b", "webhook[0]")].ok
    assert not log.path.with_name(f".{log.path.name}.tmp").exists()


def test_a_torn_line_is_dropped_by_the_rewrite_and_nothing_else(tmp_path: Path) -> None:
    log = NotifyTestLog(tmp_path, max_bytes=2_000, keep_per_integration=100)
    log.append([_outcome(1.0, "team-a")])
    with log.path.open("ab") as f:
        f.write(b'{"time": 2, "receiver": "te')  # a crash in the middle of a write
    assert len(log.read().problems) == 1
    for i in range(2, 30):
        log.append([_outcome(float(i), "team-a")])
    got = log.read()
    assert got.problems == []
    assert [r.time for r in got.records] == [float(i) for i in [1, *range(2, 30)]]


def test_below_the_limit_the_file_is_only_appended(tmp_path: Path) -> None:
    log = NotifyTestLog(tmp_path)
    log.append([_outcome(1.0, "a")])
    first = log.path.read_bytes()
    log.append([_outcome(2.0, "a")])
    assert log.path.read_bytes().startswith(first)
    assert [r.time for r in log.read().records] == [1.0, 2.0]
