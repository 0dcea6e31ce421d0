"""Promtail pipeline stages on single entries, and their config errors."""

from __future__ import annotations

import pytest

from guardia.logs.stages import Entry, LimitStage, StageConfigError, build_stages, run_stages


def _run(specs: list[dict[str, object]], line: str) -> Entry | None:
    e = Entry(1, line, {"job": "x"})
    return e if run_stages(build_stages(specs), e) else None


def test_regex_labels_and_timestamp_from_an_nginx_line() -> None:
    e = _run(
        [
            {
                "regex": {
                    "expression": r'^(?P<ip>\S+) .*\[(?P<time>[^\]]+)\] '
                    r'"(?P<method>\S+) \S+ \S+" (?P<status>\d+)'
                }
            },
            {"labels": {"method": None, "status": None}},
            {"timestamp": {"source": "time", "format": "02/Jan/2006:15:04:05 -0700"}},
        ],
        '1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 5',
    )
    assert e is not None
    assert e.labels == {"job": "x", "method": "GET", "status": "200"}
    assert e.ts == 1_700_000_000 * 10**9


def test_json_output_and_static_labels() -> None:
    e = _run(
        [
            {"json": {"expressions": {"msg": "message", "lvl": "level", "user": "ctx.user"}}},
            {"labels": {"level": "lvl"}},
            {"static_labels": {"env": "prod"}},
            {"output": {"source": "msg"}},
            {"timestamp": {"source": "ts", "format": "RFC3339"}},
        ],
        '{"message": "hi", "level": "warn", "ctx": {"user": "ana"}}',
    )
    assert e is not None
    assert e.line == "hi" and e.labels == {"job": "x", "level": "warn", "env": "prod"}
    assert e.extracted["user"] == "ana"


def test_logfmt_and_unix_timestamps() -> None:
    e = _run(
        [
            {"logfmt": {"mapping": {"t": "ts", "level": None}}},
            {"timestamp": {"source": "t", "format": "UnixMs"}},
            {"labels": {"level": None}},
        ],
        "ts=1700000000123 level=info msg=ok",
    )
    assert e is not None and e.ts == 1_700_000_000_123_000_000 and e.labels["level"] == "info"


def test_drop_by_expression_and_length() -> None:
    assert _run([{"drop": {"expression": "health"}}], "GET /health") is None
    assert _run([{"drop": {"expression": "health"}}], "GET /api") is not None
    assert _run([{"drop": {"longer_than": 5}}], "123456") is None


def test_limit_drops_over_the_rate_when_asked() -> None:
    now = [0.0]
    st = LimitStage(rate=2, burst=2, drop=True, clock=lambda: now[0])
    kept = [st.process(Entry(1, "x", {})) for _ in range(5)]
    assert kept == [True, True, False, False, False]
    now[0] = 1.0
    assert st.process(Entry(1, "x", {}))


@pytest.mark.parametrize(
    ("specs", "msg"),
    [
        ([{"regex": {"expression": "no groups"}}], "named groups"),
        ([{"regex": {}}], "pipeline_stages[0].regex.expression is required"),
        ([{"bogus": {}}], "unknown stage 'bogus'"),
        ([{"json": {"expressions": {"a": "b"}, "nope": 1}}], "unknown field 'nope'"),
        ([{"labels": {"bad-name": None}}], "invalid label name"),
        ([{"timestamp": {"source": "t"}}], "source and format are required"),
        ([{"limit": {"rate": 0}}], "rate must be a positive number"),
    ],
)
def test_bad_stages_name_the_stage_and_field(specs: list[dict[str, object]], msg: str) -> None:
    with pytest.raises(StageConfigError) as info:
        build_stages(specs)
    assert msg in str(info.value)
