"""`guardia check config FILE...` without typer: same output, same exit status, typer for the rest.

The plain command line skips building the typer app (typer, click, rich and pydantic cost more
to import than the check itself); these tests hold it to the typer command's behaviour.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardia.cli.check_config import run
from guardia.cli.main import app, fast_check_config

ROOT = Path(__file__).parents[2]
GAD = [f"examples/grupo-gad/{n}" for n in ("alertmanager.yml", "alerts.yml", "prometheus.yml")]


@pytest.mark.parametrize("args", [
    [], ["--help"], ["-h", "x.yml"], ["--bogus", "x.yml"], ["--json"], ["--no-warnings"],
])
def test_help_unknown_options_and_no_files_are_left_to_typer(args: list[str]) -> None:
    assert fast_check_config(args) is None


@pytest.mark.parametrize("flags", [[], ["--no-warnings"], ["--json"], ["--json", "--no-warnings"]])
def test_same_output_and_status_as_the_typer_command(flags: list[str], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    typer_result = CliRunner().invoke(app, ["check", "config", *flags, *GAD], catch_exceptions=False)
    code = fast_check_config([*GAD[:1], *flags, *GAD[1:]])  # flags may come anywhere, as with click
    assert code == typer_result.exit_code == 1
    assert capsys.readouterr().out == typer_result.output


def test_double_dash_ends_the_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("--json").write_text("groups: []\n")
    assert fast_check_config(["--", "--json"]) == 0
    assert capsys.readouterr().out == "OK, 0 warnings in 1 file: --json (rule file)\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_and_never_with_no_color(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "rules.yml"
    p.write_text("groups:\n  - name: g\n    rules:\n      - record: bad-name\n        expr: up\n")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    plain, tty = io.StringIO(), _Terminal()
    assert run([p], out=plain) == run([p], out=tty) == 1
    assert "\x1b[" not in plain.getvalue()
    assert f"\x1b[1m{p}:4:17: \x1b[0m\x1b[1;31merror: \x1b[0m" in tty.getvalue()
    assert "\x1b[1;31mFAILED: 1 error\x1b[0m" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    no_color = _Terminal()
    run([p], out=no_color)
    assert no_color.getvalue() == plain.getvalue()


def test_json_is_a_list_of_issues(tmp_path: Path) -> None:
    p = tmp_path / "prometheus.yml"
    p.write_text("global:\n  scrape_intervall: 1m\n")
    out = io.StringIO()
    assert run([p], as_json=True, out=out) == 1
    [issue] = json.loads(out.getvalue())
    assert (issue["line"], issue["path"], issue["severity"]) == (2, "global.scrape_intervall", "error")
    assert issue["message"].endswith("did you mean 'scrape_interval'?")


def test_the_plain_command_line_imports_neither_typer_nor_rich_nor_pydantic() -> None:
    code = (
        "import sys\n"
        "from guardia.cli.main import main\n"
        "sys.argv = ['guardia', 'check', 'config', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    loaded = [m for m in ('typer', 'click', 'rich', 'pydantic') if m in sys.modules]\n"
        "    print(e.code, loaded, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *GAD], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.stderr.strip() == "1 []", proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("FAILED: 2 errors, 3 warnings in 3 files")
