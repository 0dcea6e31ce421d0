import pytest

from guardia.model import (
    DurationError,
    TimestampError,
    format_duration,
    format_rfc3339,
    parse_duration,
    parse_timestamp,
)

DURATIONS = [
    ("15s", 15_000),
    ("1h30m", 5_400_000),
    ("2w", 14 * 86_400_000),
    ("1y", 365 * 86_400_000),
    ("500ms", 500),
    ("1m30s500ms", 90_500),
    ("0", 0),
    ("0s", 0),
    ("1d", 86_400_000),
]


@pytest.mark.parametrize(("text", "ms"), DURATIONS)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("bad", ["", "1", "1.5s", "30m1h", "1hh", "5 m", "-1s", "1x", "1s1s"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_float_seconds_allowed_where_api_allows() -> None:
    assert parse_duration("1.5", allow_float_seconds=True) == 1500
    assert parse_duration("15", allow_float_seconds=True) == 15_000


@pytest.mark.parametrize("ms", [0, 1, 999, 15_000, 90_000, 5_400_000, 14 * 86_400_000 + 1])
def test_format_duration_round_trips(ms: int) -> None:
    assert parse_duration(format_duration(ms)) == ms


def test_format_duration_uses_weeks_and_years_only_when_exact() -> None:
    day = 86_400_000
    assert [format_duration(ms) for ms in (7 * day, 8 * day, 14 * day, 365 * day, 366 * day)] == [
        "1w", "8d", "2w", "1y", "366d"]


def test_timestamps() -> None:
    assert parse_timestamp("1761739200") == 1_761_739_200_000
    assert parse_timestamp("1761739200.5") == 1_761_739_200_500
    assert parse_timestamp("2025-10-29T12:00:00Z") == 1_761_739_200_000
    assert parse_timestamp("2025-10-29T14:00:00+02:00") == 1_761_739_200_000
    assert parse_timestamp("1970-01-01T00:00:00.123Z") == 123
    assert format_rfc3339(1_761_739_200_000) == "2025-10-29T12:00:00Z"
    assert format_rfc3339(123) == "1970-01-01T00:00:00.123Z"


@pytest.mark.parametrize("bad", ["yesterday", "2025-10-29T12:00:00", "NaN", "inf", ""])
def test_bad_timestamps(bad: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(bad)
