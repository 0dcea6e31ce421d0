"""Go time and duration printing used by notification templates."""

from __future__ import annotations

import datetime as dt

import pytest

from guardia.template import GoDuration, Template, alertmanager_funcs, as_go_time, go_time_format

T = dt.datetime(2024, 3, 5, 14, 7, 9, 120000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("2006-01-02 15:04:05", "2024-03-05 14:07:09"),
        ("Mon Jan _2 3:04PM", "Tue Mar  5 2:07PM"),
        ("January 2, 2006 MST", "March 5, 2024 UTC"),
        ("15:04:05.000 -07:00", "14:07:09.120 +00:00"),
        ("2006-01-02T15:04:05.999999999Z07:00", "2024-03-05T14:07:09.12Z"),
    ],
)
def test_go_layouts(layout: str, expected: str) -> None:
    assert go_time_format(T, layout) == expected


@pytest.mark.parametrize(
    ("ns", "expected"),
    [(0, "0s"), (1_500_000_000, "1.5s"), (3_725_000_000_000, "1h2m5s"), (2_000, "2µs"),
     (-90_000_000_000, "-1m30s"), (1_000_000, "1ms")],
)
def test_duration_string(ns: int, expected: str) -> None:
    assert str(GoDuration(ns)) == expected


def test_time_prints_like_go_and_date_tz_functions() -> None:
    tmpl = Template(alertmanager_funcs()).parse(
        '{{ .T }}|{{ date "15:04 MST" (tz "Europe/Madrid" .T) }}|{{ .T.Format "Jan 2" }}', "t")
    assert tmpl.execute({"T": as_go_time(T)}) == (
        "2024-03-05 14:07:09.12 +0000 UTC|15:07 CET|Mar 5")

