"""Routing tables (data files): guardia's tree, `guardia routes` and amtool agree."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from guardia.alerting.route import Route
from guardia.cli.main import app
from guardia.config.alertmanager import load_alertmanager_config
from guardia.model.labels import Labels

DATA = Path(__file__).parent / "data" / "routing"
TABLES = sorted(DATA.glob("*.yml"))


def _config_file(table: Path, spec: dict[str, Any], tmp_path: Path) -> Path:
    if "\n" in spec["config"]:
        p = tmp_path / "am.yml"
        p.write_text(spec["config"])
        return p
    return (table.parent / spec["config"]).resolve()


def _cases(table: Path) -> list[tuple[Path, dict[str, str], list[str]]]:
    spec = yaml.safe_load(table.read_text())
    return [(table, c["labels"], c["receivers"]) for c in spec["cases"]]


CASES = [c for t in TABLES for c in _cases(t)]


@pytest.mark.parametrize(("table", "labels", "expected"), CASES,
                         ids=[f"{t.stem}-{i}" for i, (t, _, _) in enumerate(CASES)])
def test_routing_table(table: Path, labels: dict[str, str], expected: list[str], tmp_path: Path) -> None:
    spec = yaml.safe_load(table.read_text())
    cfg_file = _config_file(table, spec, tmp_path)
    cfg = load_alertmanager_config(cfg_file)
    assert cfg.route is not None
    got = [r.receiver for r in Route.from_config(cfg.route).match(Labels(labels))]
    assert got == expected
    args = [f"{k}={v}" for k, v in labels.items()]
    amtool = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={cfg_file}", *args],
                            capture_output=True, text=True, timeout=30)
    assert amtool.stdout.strip() == ",".join(expected), "the table disagrees with amtool"
    ours = CliRunner().invoke(app, ["routes", "test", "--config", str(cfg_file), *args])
    assert ours.exit_code == 0, ours.output
    assert ours.stdout.strip() == ",".join(expected)


@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_routes_show_and_tree_match_amtool(table: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load(table.read_text())
    cfg_file = _config_file(table, spec, tmp_path)
    ref = subprocess.run(["amtool", "config", "routes", f"--config.file={cfg_file}"],
                         capture_output=True, text=True, timeout=30).stdout
    ours = CliRunner().invoke(app, ["routes", "show", "--config", str(cfg_file)])
    assert ours.stdout == ref
    args = [f"{k}={v}" for k, v in spec["cases"][0]["labels"].items()]
    ref = subprocess.run(["amtool", "config", "routes", "test", "--tree", f"--config.file={cfg_file}", *args],
                         capture_output=True, text=True, timeout=30).stdout
    ours = CliRunner().invoke(app, ["routes", "test", "--tree", "--config", str(cfg_file), *args])
    assert ours.stdout == ref


def test_verify_receivers_fails_loudly(tmp_path: Path) -> None:
    cfg_file = DATA.parent / "configs" / "valid" / "grupo_gad.yml"
    r = CliRunner().invoke(app, ["routes", "test", "--config", str(cfg_file), "--verify-receivers", "x",
                                 "severity=critical"])
    assert r.exit_code == 1 and "did not match" in r.output


def test_broken_config_is_reported_with_position(tmp_path: Path) -> None:
    cfg_file = DATA.parent / "configs" / "invalid" / "undefined_receiver.yml"
    r = CliRunner().invoke(app, ["routes", "show", "--config", str(cfg_file)])
    assert r.exit_code == 1
    assert 'undefined_receiver.yml:10:17: route.routes[2].receiver: receiver "database-team" is not defined' \
        in r.output


def test_placeholders_do_not_block_showing_routes() -> None:
    cfg_file = DATA.parent / "configs" / "invalid" / "placeholder_slack.yml"
    r = CliRunner().invoke(app, ["routes", "test", "--config", str(cfg_file), "severity=critical"])
    assert r.exit_code == 0 and r.stdout.strip() == "slack"
