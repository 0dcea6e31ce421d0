"""The ``checks:`` section: the issue's exact shape loads; every mistake names file, line,
check and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.checks.config import CommandSpec, PythonSpec, SQLSpec, load_checks
from guardia.config.errors import ConfigError

ISSUE_SHAPE = """
checks:
  - name: session_table
    interval: 1h
    python: {function: "iact.checks:session_rows", args: [], kwargs: {}}
  - name: orders_pending
    sql: {dsn: {from_env: ORDERS_DSN}, query: "select status, count(*) from orders group by status"}
    warning: "> 50000"
    critical: "> 100000"
    for: 10m
  - name: disk_root
    command: {argv: ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-p", "/"]}
"""


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "guardia.yml"
    p.write_text(text)
    return str(p)


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_checks(_write(tmp_path, text))
    return [f"{i.line}:{i.path}: {i.message}" for i in e.value.errors]


def test_the_issue_shape_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_DSN", "postgresql://app:Xk3-real-pass@db.internal/shop")
    cfg = load_checks(_write(tmp_path, ISSUE_SHAPE))
    by = cfg.by_name()
    assert by["session_table"].interval_ms == 3_600_000
    assert isinstance(by["session_table"].target, PythonSpec)
    orders = by["orders_pending"]
    assert isinstance(orders.target, SQLSpec)
    assert orders.dsn is not None and orders.dsn.driver == "postgresql"
    assert "Xk3" not in repr(orders) and "Xk3" not in str(orders.dsn.secret)
    assert str(orders.thresholds["warning"]) == "> 50000" and orders.for_ms == 600_000
    disk = by["disk_root"]
    assert isinstance(disk.target, CommandSpec) and disk.target.argv[2] == "20%"
    assert disk.timeout_ms == 10_000 and disk.interval_ms == 60_000


def test_two_kinds_name_the_check_and_line(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "checks:\n  - name: both\n    command: {argv: [x]}\n"
                   "    python: {function: 'a:b'}\n")
    assert errs == ["2:checks[0]: check 'both': a check needs exactly one of python, sql, command or dora "
                    "(got python, command)"]


def test_an_unknown_field_names_the_check_and_field(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "checks:\n  - name: disk\n    command: {argv: [x], shell: true}\n")
    assert len(errs) == 1 and errs[0].startswith("3:checks[0].command.shell: check 'disk':")


def test_bad_threshold_names_the_field(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "checks:\n  - name: q\n    command: {argv: [x]}\n    warning: 'over 9000'\n")
    assert errs == ["4:checks[0].warning: check 'q': 'over 9000' is not a threshold: write a comparison "
                    "and a number, such as \"> 50000\" or \"<= 0.5\""]
    errs = _errors(tmp_path, "checks:\n  - name: q\n    command: {argv: [x]}\n    critical: 5\n")
    assert "has no comparison" in errs[0] and errs[0].startswith("4:checks[0].critical: check 'q'")


def test_for_without_thresholds_and_timeout_over_interval(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "checks:\n  - name: q\n    command: {argv: [x]}\n    for: 5m\n"
                   "  - name: r\n    interval: 10s\n    timeout: 20s\n    command: {argv: [x]}\n")
    assert errs[0] == "4:checks[0].for: check 'q': for applies to thresholds: add warning: or critical:"
    assert "check 'r': timeout must be at most the interval" in errs[1]


def test_placeholder_dsn_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_DSN", "postgresql://app:ChangeMe123!@db/shop")
    errs = _errors(tmp_path, "checks:\n  - name: orders\n"
                   "    sql: {dsn: {from_env: ORDERS_DSN}, query: select 1}\n")
    assert errs == ["3:checks[0].sql.dsn: check 'orders': the DSN's password is the placeholder "
                    "'ChangeMe123!': set the real one"]


def test_dsn_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_DSN", raising=False)
    errs = _errors(tmp_path, "checks:\n  - name: a\n    sql: {dsn: {from_env: NOPE_DSN}, query: select 1}\n"
                   "  - name: b\n    sql: {dsn: 'postgresql://u:hunter2x@db/x', query: select 1}\n"
                   "  - name: c\n    sql: {dsn: {from_file: missing.dsn}, query: select 1}\n"
                   "  - name: d\n    sql: {dsn: 'oracle://db/x', query: select 1}\n")
    assert "check 'a': environment variable NOPE_DSN is not set" in errs[0]
    assert "check 'b': an inline DSN may not carry a password" in errs[1] and "hunter2x" not in errs[1]
    assert "check 'c': cannot read the DSN file" in errs[2]
    assert "check 'd': the DSN must start with postgresql://" in errs[3]
    (tmp_path / "shop.dsn").write_text("mysql://app:Qw9-real@db/shop\n")
    cfg = load_checks(_write(tmp_path, "checks:\n  - name: e\n    sql: {dsn: {from_file: shop.dsn}, "
                             "query: select 1}\n  - name: f\n"
                             "    sql: {dsn: 'sqlite:///app.db', query: select 1}\n"))
    assert [c.dsn.driver for c in cfg.checks if c.dsn] == ["mysql", "sqlite"]


def test_reserved_labels_and_missing_name(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "checks:\n  - name: q\n    labels: {check: x}\n    command: {argv: [x]}\n"
                   "  - command: {argv: [x]}\n")
    assert "label 'check' is set by guardia itself" in errs[0]
    assert any("checks[1]" in e and "needs a name" in e for e in errs)
