"""Periods: rolling and calendar windows, and the alert windows sized for each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guardia.slo.period import DAY_MS, HOUR_MS, MINUTE_MS, Period, PeriodError, burn_windows


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def test_a_30_day_period_gets_the_workbook_windows_and_factors() -> None:
    got = [(b.severity, b.long, b.short, b.factor) for b in burn_windows(Period.parse("30d"))]
    assert got == [("page", "1h", "5m", 14.4), ("page", "6h", "30m", 6.0),
                   ("ticket", "1d", "2h", 3.0), ("ticket", "3d", "6h", 1.0)]


def test_a_28_day_period_keeps_the_windows_and_scales_the_factors_like_sloth() -> None:
    got = [(b.long, b.short, b.factor) for b in burn_windows(Period.parse("28d"))]
    assert got == [("1h", "5m", 13.44), ("6h", "30m", 5.6), ("1d", "2h", 2.8),
                   ("3d", "6h", 0.933333)]


def test_a_week_scales_the_windows_and_keeps_the_budget_fraction_per_alert() -> None:
    bs = burn_windows(Period.parse("7d"))
    assert [b.long_ms for b in bs] == [14 * MINUTE_MS, 84 * MINUTE_MS, 336 * MINUTE_MS, 1008 * MINUTE_MS]
    assert [b.short_ms for b in bs] == [MINUTE_MS, 7 * MINUTE_MS, 28 * MINUTE_MS, 84 * MINUTE_MS]
    for b, frac in zip(bs, (0.02, 0.05, 0.10, 0.10), strict=True):
        # The alert still fires on the same fraction of the (weekly) budget.
        assert b.factor * b.long_ms / (7 * DAY_MS) == pytest.approx(frac, rel=1e-3)


def test_a_calendar_month_starts_on_the_first_and_has_its_real_length() -> None:
    p = Period.parse("month")
    t = ms(2026, 2, 17, 13, 5)
    assert p.start(t) == ms(2026, 2, 1)
    assert p.end(t) == ms(2026, 3, 1)
    assert p.total_ms(t) == 28 * DAY_MS
    assert p.total_ms(ms(2026, 3, 31, 23, 59)) == 31 * DAY_MS
    assert str(p) == "month"


def test_a_calendar_month_resets_at_the_boundary() -> None:
    p = Period.parse("month")
    assert p.start(ms(2026, 11, 30, 23, 59, 59)) == ms(2026, 11, 1)
    assert p.start(ms(2026, 12, 1, 0, 0, 0)) == ms(2026, 12, 1)


def test_a_calendar_week_starts_on_monday() -> None:
    p = Period.parse("week")
    assert p.start(ms(2026, 12, 4, 2, 0)) == ms(2026, 11, 30)  # a Friday → the Monday before
    assert p.total_ms(ms(2026, 12, 4)) == 7 * DAY_MS


@pytest.mark.parametrize("text,msg", [
    ("30 days", "not a valid duration"),
    ("10m", "too short"),
    ("fortnight", "month' or 'week'"),
])
def test_bad_windows_say_what_to_write(text: str, msg: str) -> None:
    with pytest.raises(PeriodError, match=msg):
        Period.parse(text)


def test_rolling_period_start_is_the_length_back() -> None:
    assert Period.parse("2w").start(100 * DAY_MS) == 86 * DAY_MS
    assert Period.parse("1h").total_ms(5) == HOUR_MS
