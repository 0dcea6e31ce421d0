"""Rule unit tests in promtool's format (``guardia test rules``).

The same test files run under ``promtool test rules`` and here, with the same pass/fail output
and exit code: input series in expanding notation are loaded into an in-memory store, the
rule groups are evaluated every ``evaluation_interval`` from time 0 in ``group_eval_order``,
firing alerts are compared at each ``eval_time`` and PromQL expressions at theirs.
"""

from __future__ import annotations

import math
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.rulefile import load_rule_file
from guardia.model import (
    DurationError,
    Labels,
    TimestampError,
    format_duration,
    parse_duration,
    parse_timestamp,
)
from guardia.model.gostrings import go_quote, labels_string
from guardia.promql import Engine, EngineOptions, PromQLError
from guardia.promql.scripttest import ScriptError, expand_points, parse_labels, split_series
from guardia.rules.alerting import ALERTNAME, AlertingRule, AlertState
from guardia.rules.group import Group, GroupOptions
from guardia.rules.manager import build_group
from guardia.rules.metrics import RuleMetrics
from guardia.rules.query import RuleQueryError, engine_query_func
from guardia.storage.memory import MemoryStorage
from guardia.template.gofmt import format_float

_FILE_KEYS = {"rule_files", "evaluation_interval", "group_eval_order", "tests",
              "fuzzy_compare"}
_GROUP_KEYS = {"interval", "input_series", "alert_rule_test", "promql_expr_test",
               "external_labels", "external_url", "name", "start_timestamp"}
_ALERT_TEST_KEYS = {"eval_time", "alertname", "exp_alerts"}
_EXP_ALERT_KEYS = {"exp_labels", "exp_annotations"}
_PROMQL_TEST_KEYS = {"expr", "eval_time", "exp_samples"}
_SAMPLE_KEYS = {"labels", "value"}
_SERIES_KEYS = {"series", "values"}


class UnitTestError(Exception):
    """A test file that cannot be run; printed under FAILED like promtool's errors."""


def go_labels(d: dict[str, str] | Labels) -> str:
    """labels.Labels.String(): ``{a="1", b="2"}`` sorted by name."""
    return labels_string(sorted(dict(d).items()))


def _indent(text: str, indent: str) -> str:
    lines = text.split("\n")
    return lines[0] + "".join("\n" + indent + ln for ln in lines[1:])


def _alerts_string(alerts: list[tuple[dict[str, str], dict[str, str]]]) -> str:
    if not alerts:
        return "[]"
    parts = []
    for i, (labels, annots) in enumerate(alerts):
        body = f"\nLabels:{go_labels(labels)}\nAnnotations:{go_labels(annots)}"
        parts.append(f"{i}:" + _indent(body, "  "))
    return "[\n" + ",\n".join(parts) + "\n]"


def _samples_string(samples: list[tuple[Labels, float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{go_labels(ls)} {format_float(v, 'E', -1)}" for ls, v in samples)


def _strict(d: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise UnitTestError(f"{where}: expected a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise UnitTestError(f"{where}: field {unknown[0]} not found (allowed: "
                            f"{', '.join(sorted(allowed))})")
    return d


def _duration(v: Any, where: str, default: int | None = None) -> int:
    if v is None:
        if default is None:
            raise UnitTestError(f"{where}: missing duration")
        return default
    try:
        return parse_duration(str(v))
    except DurationError as e:
        raise UnitTestError(f"{where}: {e}") from None


def _float(v: Any) -> float:
    """A YAML float, as promtool reads ``value:`` (``.nan``, ``.inf``; text is an error)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"cannot unmarshal !!str `{v}` into float64 (write .nan, .inf or "
                         "a number)")
    return float(v)


@dataclass
class _AlertTest:
    eval_time: int
    alertname: str
    exp: list[tuple[dict[str, str], dict[str, str]]]


@dataclass
class _TestGroup:
    name: str
    interval: int
    series: list[tuple[Labels, list[float | None]]]
    alert_tests: list[_AlertTest] = field(default_factory=list)
    promql_tests: list[dict[str, Any]] = field(default_factory=list)
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    start_ms: int = 0


def _start_timestamp(v: Any, where: str) -> int:
    """start_timestamp: Unix seconds or RFC3339; the base of every time in the group."""
    if v is None:
        return 0
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v * 1000)
    try:
        return parse_timestamp(str(v))
    except TimestampError as e:
        raise UnitTestError(f"{where}: {e}") from None


def _parse_group(raw: Any, eval_interval: int, idx: int) -> _TestGroup:
    where = f"tests[{idx}]"
    d = _strict(raw, _GROUP_KEYS, where)
    interval = _duration(d.get("interval"), f"{where}.interval", eval_interval)
    series = []
    for i, s in enumerate(d.get("input_series") or []):
        sd = _strict(s, _SERIES_KEYS, f"{where}.input_series[{i}]")
        desc = str(sd.get("series", ""))
        try:
            ls = parse_labels(split_series(desc)[0] if desc.strip() != "{}" else "{}")
            expanded = expand_points(str(sd.get("values", "")).split())
        except (ScriptError, PromQLError, ValueError) as e:
            raise UnitTestError(f"{where}.input_series[{i}]: {e}") from None
        points = [p for p in expanded if p is None or isinstance(p, float)]
        if len(points) != len(expanded):
            raise UnitTestError(f"{where}.input_series[{i}]: native histogram values are not supported here")
        series.append((ls, points))
    alert_tests = []
    for i, a in enumerate(d.get("alert_rule_test") or []):
        ad = _strict(a, _ALERT_TEST_KEYS, f"{where}.alert_rule_test[{i}]")
        exp = []
        for j, ea in enumerate(ad.get("exp_alerts") or []):
            ed = _strict(ea, _EXP_ALERT_KEYS, f"{where}.alert_rule_test[{i}].exp_alerts[{j}]")
            labels = {str(k): str(v) for k, v in (ed.get("exp_labels") or {}).items()}
            ann = {str(k): str(v) for k, v in (ed.get("exp_annotations") or {}).items()}
            exp.append((labels, ann))
        alert_tests.append(_AlertTest(
            _duration(ad.get("eval_time"), f"{where}.alert_rule_test[{i}].eval_time", 0),
            str(ad.get("alertname") or ""), exp))
    promql_tests = []
    for i, p in enumerate(d.get("promql_expr_test") or []):
        pd = _strict(p, _PROMQL_TEST_KEYS, f"{where}.promql_expr_test[{i}]")
        for j, s in enumerate(pd.get("exp_samples") or []):
            _strict(s, _SAMPLE_KEYS, f"{where}.promql_expr_test[{i}].exp_samples[{j}]")
        promql_tests.append({
            "expr": str(pd.get("expr", "")),
            "eval_time": _duration(pd.get("eval_time"),
                                   f"{where}.promql_expr_test[{i}].eval_time", 0),
            "exp_samples": pd.get("exp_samples") or [],
        })
    return _TestGroup(
        name=str(d.get("name") or ""), interval=interval, series=series,
        alert_tests=alert_tests, promql_tests=promql_tests,
        external_labels={str(k): str(v) for k, v in (d.get("external_labels") or {}).items()},
        external_url=str(d.get("external_url") or ""),
        start_ms=_start_timestamp(d.get("start_timestamp"), f"{where}.start_timestamp"))


class RulesUnitTester:
    """Runs test files; output goes to ``out`` (progress) and ``err`` (failures)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *,
                 run: Sequence[str] = (), junit: str | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.fuzzy = False
        # --run: only test groups whose name matches one of these regular expressions.
        self.run_patterns = [re.compile(p) for p in run]
        self.junit_path = junit
        # (file, [(test group name, errors)]) for the JUnit report.
        self.results: list[tuple[str, list[tuple[str, list[str]]]]] = []

    def run(self, files: Sequence[str]) -> int:
        failed = False
        for f in files:
            print("Unit Testing: ", f, file=self.out)
            errs = self.run_file(f)
            if errs:
                print("  FAILED:", file=self.err)
                for e in errs:
                    print(e, file=self.err)
                    print(file=self.out)
                failed = True
            else:
                print("  SUCCESS", file=self.out)
            print(file=self.out)
            self.out.flush()
            self.err.flush()
        if self.junit_path:
            write_junit(self.junit_path, self.results)
        return 1 if failed else 0

    def run_file(self, filename: str) -> list[str]:
        try:
            with open(filename, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
            d = _strict(doc, _FILE_KEYS, filename)
            eval_interval = _duration(d.get("evaluation_interval"), "evaluation_interval", 60_000)
            self.fuzzy = bool(d.get("fuzzy_compare", False))
            if eval_interval <= 0:
                eval_interval = 60_000
            order: dict[str, int] = {}
            for i, gn in enumerate(d.get("group_eval_order") or []):
                if gn in order:
                    return [f"group name repeated in evaluation order: {gn}"]
                order[gn] = i
            rule_files = self._rule_files(Path(filename).parent, d.get("rule_files") or [])
            groups = [_parse_group(t, eval_interval, i) for i, t in enumerate(d.get("tests") or [])]
        except (OSError, yaml.YAMLError, UnitTestError) as e:
            self.results.append((filename, [("", [str(e)])]))
            return [str(e)]
        errs: list[str] = []
        per_group: list[tuple[str, list[str]]] = []
        for tg in groups:
            if self.run_patterns and not any(p.search(tg.name) for p in self.run_patterns):
                continue
            group_errs = self._run_group(tg, eval_interval, order, rule_files)
            per_group.append((tg.name, group_errs))
            errs.extend(group_errs)
        self.results.append((filename, per_group))
        return errs

    def _rule_files(self, base: Path, patterns: list[str]) -> list[str]:
        out: list[str] = []
        for p in patterns:
            path = Path(p) if Path(p).is_absolute() else base / p
            matches = sorted(str(m) for m in path.parent.glob(path.name)) if any(
                c in path.name for c in "*?[") else ([str(path)] if path.exists() else [])
            if not matches:
                print("  WARNING: no file match pattern", path, file=self.err)
            out.extend(matches)
        return out

    def _load_groups(self, tg: _TestGroup, eval_interval: int, order: dict[str, int],
                     rule_files: list[str], opts: GroupOptions) -> tuple[list[Group], list[str]]:
        groups: list[Group] = []
        errs: list[str] = []
        for f in rule_files:
            try:
                rf = load_rule_file(f)
            except ConfigError as e:
                errs.extend(_promtool_issue(i) for i in e.issues if i.severity == "error")
                continue
            for g in rf.groups:
                groups.append(build_group(f, g, opts, tg.interval, tg.external_labels,
                                          tg.external_url, restore=False))
        groups.sort(key=lambda g: order.get(g.name, 0))
        return groups, errs

    def _run_group(self, tg: _TestGroup, eval_interval: int, order: dict[str, int],
                   rule_files: list[str]) -> list[str]:
        storage = MemoryStorage()
        for ls, points in tg.series:
            times = [tg.start_ms + i * tg.interval for i, p in enumerate(points) if p is not None]
            vs = [p for p in points if p is not None]
            if times:
                storage.add_series(ls, times, vs)
        engine = Engine(EngineOptions(subquery_step_ms=eval_interval))
        opts = GroupOptions(storage=storage, query=engine_query_func(engine, storage),
                            metrics=RuleMetrics(), run_in_thread=False)
        groups, errs = self._load_groups(tg, eval_interval, order, rule_files, opts)
        if errs:
            return errs
        for at in tg.alert_tests:
            if not at.alertname:
                suffix = f" (in TestGroup {tg.name})" if tg.name else ""
                return [f"an item under alert_rule_test misses required attribute alertname "
                        f"at eval_time {format_duration(at.eval_time)}{suffix}"]
        by_time: dict[int, list[_AlertTest]] = {}
        for at in tg.alert_tests:
            by_time.setdefault(at.eval_time, []).append(at)
        eval_times = sorted(by_time)
        max_t = max([at.eval_time for at in tg.alert_tests]
                    + [int(p["eval_time"]) for p in tg.promql_tests] + [0])
        cur = 0
        ts = 0
        while ts <= max_t:
            eval_errs = []
            for g in groups:
                g.eval(tg.start_ms + ts)
                for r in g.rules:
                    if (r.health.health == "err"
                            and r.health.last_evaluation_ms == tg.start_ms + ts):
                        eval_errs.append(f"    rule: {r.name}, time: {format_duration(ts)}, "
                                         f"err: {r.health.last_error}")
            errs.extend(eval_errs)
            if eval_errs:
                return errs
            while cur < len(eval_times) and ts <= eval_times[cur] < ts + eval_interval:
                for case in by_time[eval_times[cur]]:
                    msg = self._check_alerts(tg, groups, case)
                    if msg:
                        errs.append(msg)
                cur += 1
            ts += eval_interval
        for p in tg.promql_tests:
            msg = self._check_promql(tg, engine, storage, p)
            if msg:
                errs.append(msg)
        return errs

    def _check_alerts(self, tg: _TestGroup, groups: list[Group], case: _AlertTest) -> str | None:
        got: list[tuple[dict[str, str], dict[str, str]]] = []
        for g in groups:
            for r in g.rules:
                if isinstance(r, AlertingRule) and r.name == case.alertname:
                    got.extend((dict(a.labels), dict(a.annotations))
                               for a in r.active_alerts() if a.state == AlertState.FIRING)
        exp = [({**lab, ALERTNAME: case.alertname}, ann) for lab, ann in case.exp]
        # Go's labels.FromMap drops empty values, and so does a real alert's label set.
        exp = [({k: v for k, v in lab.items() if v != ""}, {k: v for k, v in ann.items()
                                                            if v != ""}) for lab, ann in exp]

        def key(x: tuple[dict[str, str], dict[str, str]]) -> tuple[Any, ...]:
            return (sorted(x[0].items()), sorted(x[1].items()))

        got.sort(key=key)
        exp.sort(key=key)
        if got == exp:
            return None
        name = f"    name: {tg.name},\n" if tg.name else ""
        exp_s = _indent(_alerts_string(exp), "            ")
        got_s = _indent(_alerts_string(got), "            ")
        return (f"{name}    alertname: {case.alertname}, time: {format_duration(case.eval_time)}, "
                f"\n        exp:{exp_s}, \n        got:{got_s}")

    def _same(self, a: float, b: float) -> bool:
        if math.isnan(a) and math.isnan(b):
            return True
        return _ulp_equal(a, b) if self.fuzzy else a == b

    def _check_promql(self, tg: _TestGroup, engine: Engine, storage: MemoryStorage,
                      p: dict[str, Any]) -> str | None:
        expr, t = p["expr"], int(p["eval_time"])
        head = f"    expr: {go_quote(expr)}, time: {format_duration(t)}"
        try:
            got_v = engine_query_func(engine, storage)(expr, tg.start_ms + t)
        except RuleQueryError as e:
            return f"{head}, err: {e}"
        got = [(s.labels, s.v) for s in got_v]
        exp: list[tuple[Labels, float]] = []
        for s in p["exp_samples"]:
            text = str(s.get("labels", "") or "{}")
            try:
                value = _float(s.get("value", 0))
            except ValueError as e:
                return f"{head}, err: value: {e}"
            try:
                exp.append((parse_labels(text), value))
            except (ScriptError, PromQLError, ValueError) as e:
                return f'{head}, err: labels {go_quote(text)}: {e}'
        got.sort(key=lambda x: tuple(x[0]))
        exp.sort(key=lambda x: tuple(x[0]))
        if len(got) == len(exp) and all(
                a[0] == b[0] and self._same(a[1], b[1]) for a, b in zip(got, exp, strict=True)):
            return None
        return (f"{head},\n        exp: {_samples_string(exp)}\n"
                f"        got: {_samples_string(got)}")


def _promtool_issue(issue: ConfigIssue) -> str:
    """A rule-file problem as promtool prints it: ``FILE: LINE:COL: message``."""
    if issue.line is None:
        return f"{issue.file}: {issue.message}"
    return f"{issue.file}: {issue.line}:{issue.column or 0}: {issue.message}"


def _ulp_equal(a: float, b: float) -> bool:
    """Equal up to the last bit of the mantissa (promtool's fuzzy_compare)."""
    return a == b or abs(a - b) <= math.ulp(max(abs(a), abs(b)))


def write_junit(path: str, results: list[tuple[str, list[tuple[str, list[str]]]]]) -> None:
    """A JUnit XML report (one testsuite per file, one testcase per test group), as
    ``promtool test rules --junit`` writes for CI systems."""
    root = ET.Element("testsuites")
    for filename, groups in results:
        failures = sum(1 for _, errs in groups if errs)
        suite = ET.SubElement(root, "testsuite", name=filename, tests=str(len(groups)),
                              failures=str(failures), errors="0")
        for name, errs in groups:
            case = ET.SubElement(suite, "testcase", name=name)
            for e in errs:
                failure = ET.SubElement(case, "failure", message=e.strip().splitlines()[0])
                failure.text = e
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def run_unit_tests(files: Sequence[str], out: TextIO | None = None,
                   err: TextIO | None = None, *, run: Sequence[str] = (),
                   junit: str | None = None) -> int:
    """``guardia test rules FILE...``; returns promtool's exit code (0 pass, 1 fail)."""
    return RulesUnitTester(out, err, run=run, junit=junit).run(files)
