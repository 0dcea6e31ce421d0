"""Small behaviours of the alerting parts: time intervals, silences, inhibition, merge,
dedupe decisions, payload times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from guardia.alerting.inhibit import Inhibitor, InhibitRule
from guardia.alerting.nflog import Entry, ReceiverKey
from guardia.alerting.silence import SilenceError, Silences
from guardia.alerting.stages import needs_update
from guardia.alerting.timeinterval import interval_contains
from guardia.alerting.types import Alert, fingerprint, format_time, parse_time
from guardia.config.alertmanager import TimeInterval
from guardia.model.am_matchers import parse_am_matchers
from guardia.model.labels import Labels

DATA = Path(__file__).parent / "data"
S = 1_000_000_000
INTERVALS = yaml.safe_load((DATA / "time_intervals.yml").read_text())


@pytest.mark.parametrize("case", INTERVALS, ids=[str(i) for i in range(len(INTERVALS))])
def test_time_intervals(case: dict[str, Any]) -> None:
    ti = TimeInterval.model_validate(case["interval"])
    for t in case["inside"]:
        assert interval_contains(ti, parse_time(t)), t
    for t in case["outside"]:
        assert not interval_contains(ti, parse_time(t)), t


def test_times_round_trip_like_go() -> None:
    assert format_time(0) == "0001-01-01T00:00:00Z"
    assert parse_time("0001-01-01T00:00:00Z") == 0
    t = parse_time("2025-10-29T12:00:00.120000000+02:00")
    assert format_time(t) == "2025-10-29T10:00:00.12Z"
    assert format_time(parse_time("2025-10-29T10:00:00.000000001Z")) == "2025-10-29T10:00:00.000000001Z"


def test_fingerprint_is_prometheus_fnv() -> None:
    # The empty set hashes to the FNV-64a offset basis; real alerts are checked against
    # Alertmanager's own fingerprints in test_differential.py.
    assert f"{fingerprint(Labels({})):016x}" == "cbf29ce484222325"
    assert fingerprint(Labels({"a": "b"})) == fingerprint({"a": "b"})


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def _ms(text: str) -> list[Any]:
    return list(parse_am_matchers(text))


def test_silence_states_and_updates(tmp_path: Path) -> None:
    clock = Clock(1000 * S)
    s = Silences(tmp_path / "s.json", clock=clock)
    sid = s.set(matchers=_ms("alertname=A"), starts_at=1100 * S, ends_at=1200 * S, created_by="me")
    assert s.get(sid).state(clock()) == "pending"
    clock.t = 1150 * S
    assert s.get(sid).state(clock()) == "active"
    assert s.mutes(Labels({"alertname": "A"})) == [sid]
    # only the end moves: same ID
    assert s.set(matchers=_ms("alertname=A"), starts_at=1100 * S, ends_at=1300 * S, sid=sid) == sid
    # matchers change on an active silence: old expires, a new one is made
    new = s.set(matchers=_ms("alertname=B"), starts_at=1100 * S, ends_at=1300 * S, sid=sid)
    assert new != sid and s.get(sid).state(clock()) == "expired"
    s.expire(new)
    with pytest.raises(SilenceError, match="already expired"):
        s.expire(new)
    reloaded = Silences(tmp_path / "s.json", clock=clock)
    assert {x.id for x in reloaded.all()} == {sid, new}
    clock.t += 121 * 3600 * S
    assert reloaded.gc() == 2 and reloaded.all() == []


@pytest.mark.parametrize(("matchers", "error"), [
    ("a=~.*", "must not match the empty string"),
    ("", "at least one matcher"),
])
def test_bad_silences(matchers: str, error: str) -> None:
    s = Silences(clock=Clock(1000 * S))
    with pytest.raises(SilenceError, match=error):
        s.set(matchers=_ms(matchers), starts_at=1000 * S, ends_at=2000 * S)


def test_silence_end_in_the_past_is_refused() -> None:
    s = Silences(clock=Clock(1000 * S))
    with pytest.raises(SilenceError, match="in the past"):
        s.set(matchers=_ms("a=b"), starts_at=10 * S, ends_at=20 * S)


def test_inhibition_with_equal_and_two_sided_rules() -> None:
    now = 1000 * S
    alerts = [
        Alert(Labels({"alertname": "APIDown", "severity": "critical", "instance": "i1"}), ends_at=now + S),
        Alert(Labels({"alertname": "Old", "severity": "critical", "instance": "i2"}), ends_at=now - S),
    ]
    rule = InhibitRule(tuple(_ms("severity=critical")), tuple(_ms("severity=warning")), ("instance",))
    inh = Inhibitor([rule], lambda: alerts, clock=Clock(now))
    assert inh.mutes(Labels({"severity": "warning", "instance": "i1"})) == alerts[0].fingerprint
    assert inh.mutes(Labels({"severity": "warning", "instance": "i3"})) is None
    assert inh.mutes(Labels({"severity": "warning", "instance": "i2"})) is None  # source resolved
    # a rule whose both sides match the same alerts does not let them mute each other
    both = InhibitRule(tuple(_ms("team=db")), tuple(_ms("team=db")), ())
    pair = [Alert(Labels({"team": "db", "n": "1"}), ends_at=now + S),
            Alert(Labels({"team": "db", "n": "2"}), ends_at=now + S)]
    assert Inhibitor([both], lambda: pair, clock=Clock(now)).mutes(pair[0].labels) is None


def test_merge_keeps_earliest_start_and_explicit_end() -> None:
    old = Alert(Labels({"a": "1"}), starts_at=10 * S, ends_at=500 * S, updated_at=10 * S, timeout=False)
    new = Alert(Labels({"a": "1"}), starts_at=20 * S, ends_at=300 * S, updated_at=20 * S, timeout=True)
    m = old.merge(new)
    assert m.starts_at == 10 * S and m.ends_at == 500 * S


def test_dedupe_decisions() -> None:
    rk = ReceiverKey("r", "webhook", 0)
    e = Entry("g", rk, frozenset({1, 2}), frozenset(), 100 * S, 0)
    assert needs_update(None, {1}, set(), True, 100 * S, 10 * S)
    assert not needs_update(None, set(), {1}, True, 100 * S, 10 * S)
    assert needs_update(e, {1, 3}, set(), True, 101 * S, 10 * S)  # new firing alert
    assert not needs_update(e, {1}, {2}, False, 101 * S, 10 * S)  # resolved, send_resolved off
    assert needs_update(e, {1}, {2}, True, 101 * S, 10 * S)  # resolved, send_resolved on
    assert needs_update(e, set(), {1, 2}, False, 101 * S, 10 * S)  # all resolved: clear
    assert needs_update(e, {1, 2}, set(), True, 110 * S, 10 * S)  # repeat interval passed


def test_nflog_persists_and_expires(tmp_path: Path) -> None:
    from guardia.alerting.nflog import NotificationLog

    clock = Clock(1000 * S)
    log = NotificationLog(tmp_path / "nflog.json", clock=clock, retention_ns=10 * S)
    rk = ReceiverKey("team", "slack", 0)
    log.log('{}:{alertname="A"}', rk, {1, 2}, {3})
    again = NotificationLog(tmp_path / "nflog.json", clock=clock, retention_ns=10 * S)
    e = again.query('{}:{alertname="A"}', rk)
    assert e is not None and e.firing == {1, 2} and e.resolved == {3} and e.timestamp == 1000 * S
    assert again.query('{}:{alertname="A"}', ReceiverKey("team", "slack", 1)) is None
    clock.t += 10 * S
    assert again.gc() == 1
    assert NotificationLog(tmp_path / "nflog.json", clock=clock).entries() == []


def test_custom_template_files_override_and_extend(tmp_path: Path) -> None:
    from guardia.alerting.receivers.base import NotifyContext
    from guardia.alerting.templates import Templater, template_data

    f = tmp_path / "team.tmpl"
    f.write_text('{{ define "team.title" }}{{ .CommonLabels.team | toUpper }}: '
                 '{{ range .Alerts.Firing }}{{ .Annotations.summary }}{{ end }}{{ end }}\n'
                 '{{ define "__alertmanager" }}Guardia GAD{{ end }}')
    t = Templater([str(f)])
    ctx = NotifyContext("g", "r", Labels(), 10 * S)
    data = template_data(ctx, [Alert(Labels({"team": "db"}), Labels({"summary": "disk full"}), 1 * S)])
    assert t.expand('{{ template "team.title" . }}', data) == "DB: disk full"
    assert t.expand('{{ template "slack.default.username" . }}', data) == "Guardia GAD"


def test_pagerduty_v1_with_service_key() -> None:
    from guardia.alerting.receivers.base import NotifyContext
    from guardia.alerting.receivers.pagerduty import V1_URL, PagerDuty, dedup_key
    from guardia.alerting.templates import Templater
    from guardia.config import parse_yaml
    from guardia.config.alertmanager import parse_alertmanager_config

    cfg = parse_alertmanager_config(parse_yaml(
        "route: {receiver: p}\nreceivers:\n  - name: p\n    pagerduty_configs:\n"
        "      - service_key: abcdef0123456789abcdef0123456789\n", "am.yml"))
    r = cfg.receiver("p")
    assert r is not None
    pd = PagerDuty(r.pagerduty_configs[0], Templater())
    ctx = NotifyContext('{}:{alertname="A"}', "p", Labels({"alertname": "A"}), 10 * S)
    url, body = pd.payload(ctx, [Alert(Labels({"alertname": "A"}), starts_at=S, ends_at=5 * S)])
    assert url == V1_URL
    assert body["event_type"] == "resolve" and body["incident_key"] == dedup_key('{}:{alertname="A"}')
    assert body["service_key"] == "abcdef0123456789abcdef0123456789"
    assert body["description"] == "[RESOLVED] A "


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    from guardia.alerting.persist import Journal

    j = Journal(tmp_path / "alerts.json")
    j.append([("a", {"id": "a", "v": 1}), ("b", {"id": "b", "v": 1})])
    j.append([("a", {"id": "a", "v": 2}), ("b", None)])
    j.close()
    with open(tmp_path / "alerts.json.journal", "a") as f:
        f.write('{"k": "c", "v": {"id": "c"')  # the process died mid-write
    j1 = Journal(tmp_path / "alerts.json")
    assert j1.load(lambda r: r["id"]) == {"a": {"id": "a", "v": 2}}
    j1.append([("d", {"id": "d"})])  # appends after a torn tail must still be readable
    j1.close()
    reread = Journal(tmp_path / "alerts.json").load(lambda r: r["id"])
    assert reread == {"a": {"id": "a", "v": 2}, "d": {"id": "d"}}
    j2 = Journal(tmp_path / "alerts.json")
    j2.compact([{"id": "a", "v": 3}])
    assert Journal(tmp_path / "alerts.json").load(lambda r: r["id"]) == {"a": {"id": "a", "v": 3}}
