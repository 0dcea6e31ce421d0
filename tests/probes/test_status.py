"""Incidents, maintenance through real silences, uptime from stored series, subscriptions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from guardia.alerting.silence import Silences
from guardia.model import Labels
from guardia.probes.status import Maintenance, StatusError, StatusStore
from guardia.probes.uptime import DAY_MS, UptimeCache, count_days
from guardia.storage.memory import MemoryStorage
from guardia.web.status.silences import SilencesInMs

NOW = 1_790_000_000.0  # seconds


def clock() -> float:
    return NOW


def test_count_days_excludes_maintenance_and_leaves_gaps_as_no_data() -> None:
    day0 = 0
    ts = np.array([10, 20, 30, DAY_MS + 10, DAY_MS + 20, 3 * DAY_MS + 5], dtype=np.int64)
    vals = np.array([1, 0, 1, 0, 1, 1], dtype=np.float64)
    counts = count_days(ts, vals, day0, 4, windows=[(DAY_MS, DAY_MS + 15)])
    assert counts.tolist() == [[2, 3, 0], [1, 1, 1], [0, 0, 0], [1, 1, 0]]


def test_uptime_from_stored_series(tmp_path: Path) -> None:
    storage = MemoryStorage()
    now_ms = int(NOW * 1000)
    today = now_ms - now_ms % DAY_MS
    # 89 full days at one sample a minute: up, except day -10 (half down) and day -20 (no data)
    ts_list, vals_list = [], []
    for d in range(1, 90):
        if d == 20:
            continue
        day_ts = today - d * DAY_MS + np.arange(0, DAY_MS, 60_000, dtype=np.int64)
        v = np.ones(day_ts.shape)
        if d == 10:
            v[: len(v) // 2] = 0
        ts_list.append(day_ts)
        vals_list.append(v)
    ts = np.concatenate(ts_list[::-1])
    vals = np.concatenate(vals_list[::-1])
    storage.add_series(Labels({"__name__": "probe_success", "job": "api", "instance": "x"}),
                       ts.tolist(), vals.tolist())
    store = StatusStore(None, clock=clock)
    cache = UptimeCache(storage, store.windows, clock=clock)
    up = cache.uptime(["api"])["api"]
    assert len(up.days) == 90
    assert up.days[-21].ratio is None  # the gap: no data, not downtime
    assert up.days[-11].ratio == 0.5
    assert up.days[-2].ratio == 1.0
    expected = (88 * 1440 - 720) / (88 * 1440)
    assert abs((up.window(90) or 0) - expected) < 1e-9
    # a maintenance window over the bad half-day takes it out of the figure
    bad_start = today - 10 * DAY_MS  # a window in the past (scheduling refuses those): set directly
    store.maintenance["m"] = Maintenance("m", ["p"], "db upgrade", "", bad_start, bad_start + DAY_MS // 2,
                                         ["api"])
    cache.invalidate()
    up = cache.uptime(["api"])["api"]
    assert up.days[-11].ratio == 1.0 and up.days[-11].maintenance == 720
    assert up.window(90) == 1.0


def test_maintenance_creates_a_real_silence_and_cancel_expires_it(tmp_path: Path) -> None:
    silences = Silences(tmp_path / "silences.json", clock=lambda: int(NOW * 1e9))
    store = StatusStore(tmp_path / "status.json", silences=SilencesInMs(silences), clock=clock)
    now_ms = int(NOW * 1000)
    m = store.schedule_maintenance(["public"], "DB upgrade", "PostgreSQL 16", now_ms, now_ms + 3_600_000,
                                   ["api", "db"], ['alertname="APIDown"'])
    [sil] = silences.all()
    assert sil.id == m.silence_id
    assert sil.mutes(Labels({"alertname": "APIDown", "job": "api"}))
    assert not sil.mutes(Labels({"alertname": "APIDown", "job": "web"}))
    assert store.in_maintenance("db") is m
    store.cancel_maintenance(m.id)
    assert silences.get(m.silence_id).state(int(NOW * 1e9)) == "expired"
    # it all survives a restart
    again = StatusStore(tmp_path / "status.json", clock=clock)
    assert again.maintenance[m.id].cancelled


def test_bad_maintenance_is_refused_with_the_reason() -> None:
    store = StatusStore(None, clock=clock)
    now_ms = int(NOW * 1000)
    for args, msg in (
        (("", "", now_ms, now_ms + 1, ["a"]), "needs a title"),
        (("t", "", now_ms + 10, now_ms, ["a"]), "end after it starts"),
        (("t", "", now_ms - 10, now_ms - 5, ["a"]), "end in the future"),
        (("t", "", now_ms, now_ms + 10, []), "needs the probes"),
    ):
        try:
            store.schedule_maintenance(["p"], *args)  # type: ignore[arg-type]
        except StatusError as e:
            assert msg in str(e)
        else:
            raise AssertionError(f"accepted {args}")


def test_incidents_open_and_resolve_with_their_alerts(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "status.json", clock=clock)
    events: list[str] = []
    store.listeners.append(lambda page, obj, what: events.append(f"{page}:{what}"))
    alert = {"labels": {"alertname": "APIDown", "severity": "critical", "job": "api"},
             "annotations": {"summary": "API is down", "description": "probe_success == 0 for 2m"},
             "fingerprint": "abc123"}
    pages = {"public": ['severity="critical"']}
    store.sync_alerts(pages, [alert])
    store.sync_alerts(pages, [alert])  # still firing: no second incident
    [inc] = store.page_incidents("public")
    assert inc.open and inc.title == "API is down" and inc.impact == "critical" and inc.probes == ["api"]
    store.sync_alerts(pages, [])
    assert inc.status == "resolved" and inc.updates[-1].author == "alert"
    assert events == ["public:opened", "public:resolved"]
    store.sync_alerts({"public": ['severity="warning"']}, [alert])  # not selected by the page
    assert len(store.page_incidents("public")) == 1


def test_people_update_incidents_and_bad_updates_say_why() -> None:
    store = StatusStore(None, clock=clock)
    inc = store.open_incident("p", "Slow logins", "Looking into it", impact="minor", author="ana")
    store.update_incident(inc.id, "identified", "Redis eviction storm", author="ana")
    store.update_incident(inc.id, "resolved", "Memory limit raised")
    assert [u.status for u in inc.updates] == ["investigating", "identified", "resolved"] and not inc.open
    for status, message, reason in (("fixed", "x", "status must be one of"),
                                    ("monitoring", " ", "needs a message")):
        try:
            store.update_incident(inc.id, status, message)
        except StatusError as e:
            assert reason in str(e)
        else:
            raise AssertionError("accepted")


def test_subscriptions_are_checked_and_kept(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "s.json", clock=clock)
    sub = store.subscribe("p", "email", "ops@example.com")
    assert store.subscribe("p", "email", "ops@example.com") is sub
    assert len(store.subscribers) == 1 and store.page_subscribers("p") == []  # waits for its confirmation
    assert store.confirm("p", sub.token) is sub and store.page_subscribers("p") == [sub]
    for kind, address in (("email", "not-an-address"), ("webhook", "ftp://x"), ("sms", "123")):
        try:
            store.subscribe("p", kind, address)
        except StatusError:
            continue
        raise AssertionError(f"accepted {kind} {address}")
    assert StatusStore(tmp_path / "s.json", clock=clock).page_subscribers("p")[0].address == "ops@example.com"
