"""Promtail pipeline stages on single entries, and their config errors."""

from __future__ import annotations

import re

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


def test_labeldrop_and_labelallow_take_lists() -> None:
    e = _run([{"static_labels": {"a": "1", "b": "2"}}, {"labeldrop": ["a"]}], "x")
    assert e is not None and e.labels == {"job": "x", "b": "2"}
    e = _run([{"static_labels": {"a": "1", "b": "2"}}, {"labelallow": ["job", "b"]}], "x")
    assert e is not None and e.labels == {"job": "x", "b": "2"}


def test_replace_masks_each_captured_group_with_its_template() -> None:
    e = _run([{"replace": {"expression": r"password=(\S+)", "replace": "****"}}],
             "user=ana password=hunter2 ok")
    assert e is not None and e.line == "user=ana password=**** ok"
    e = _run([{"replace": {"expression": r"(?P<user>ana|bob)", "replace": "{{ .Value | ToUpper }}"}}],
             "login ana then bob")
    assert e is not None and e.line == "login ANA then BOB" and e.extracted["user"] == "bob"


def test_template_rewrites_an_extracted_value_and_structured_metadata_keeps_it() -> None:
    e = _run([
        {"logfmt": {"mapping": {"level": None, "trace": "trace_id"}}},
        {"template": {"source": "level", "template": "{{ ToUpper .Value }}"}},
        {"labels": {"level": None}},
        {"structured_metadata": {"trace_id": "trace"}},
    ], "level=warn trace_id=abc msg=x")
    assert e is not None and e.labels == {"job": "x", "level": "WARN"} and e.metadata == {"trace_id": "abc"}


def test_match_runs_its_stages_on_matching_entries_and_drops_with_action_drop() -> None:
    specs: list[dict[str, object]] = [
        {"match": {"selector": '{job="x"} |= "healthz"', "action": "drop"}},
        {"match": {"selector": '{job="x"} |~ "level=(error|warn)"',
                   "stages": [{"static_labels": {"alert": "yes"}}]}},
    ]
    assert _run(specs, "GET /healthz 200") is None
    e = _run(specs, "level=error boom")
    assert e is not None and e.labels == {"job": "x", "alert": "yes"}
    e = _run(specs, "level=info fine")
    assert e is not None and e.labels == {"job": "x"}
    e = _run([{"match": {"selector": '{job="other"}', "action": "drop"}}], "anything")
    assert e is not None


def test_pack_decolorize_and_sampling() -> None:
    e = _run([{"static_labels": {"pod": "p1"}}, {"pack": {"labels": ["pod"], "ingest_timestamp": False}}],
             "hi")
    assert e is not None and e.labels == {"job": "x"} and e.line == '{"pod":"p1","_entry":"hi"}' and e.ts == 1
    e = _run([{"decolorize": {}}], "\x1b[31mred\x1b[0m text")
    assert e is not None and e.line == "red text"
    assert _run([{"sampling": {"rate": 0}}], "x") is None
    assert _run([{"sampling": {"rate": 1}}], "x") is not None


@pytest.mark.parametrize(("spec", "msg"), [
    ({"labeldrop": {"a": 1}}, "pipeline_stages[0].labeldrop: must be a list of label names"),
    ({"replace": {"expression": "no groups"}}, "replace.expression needs at least one capture group"),
    ({"template": {"source": "x", "template": "{{ .Value "}}, "template.template: invalid template"),
    ({"match": {"selector": "job=x", "action": "drop"}}, "match.selector: parse error"),
    ({"match": {"selector": '{job="x"}'}}, "match.stages is required when action is keep"),
    ({"sampling": {"rate": 2}}, "sampling.rate must be a number from 0 to 1"),
    ({"tenant": {"value": "a"}}, "unknown stage 'tenant'"),
])
def test_bad_rewrite_stages_name_the_field(spec: dict[str, object], msg: str) -> None:
    with pytest.raises(StageConfigError, match=re.escape(msg)):
        build_stages([spec])
