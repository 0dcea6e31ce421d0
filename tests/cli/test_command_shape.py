"""Every subcommand, present and future, takes flags anywhere and has readable help.

The tests walk the whole command tree rather than naming commands, so a subcommand added
later is held to the same rules without anyone remembering to add it here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer import _click as click
from typer.testing import CliRunner

from guardia import __version__
from guardia.cli.main import app, build_app

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


Leaf = tuple[tuple[str, ...], click.Command]


def _leaves(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    commands = getattr(cmd, "commands", None)
    if commands:
        for name, sub in commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield path, cmd


def _tree() -> list[Leaf]:
    return list(_leaves(typer.main.get_command(build_app())))


def test_every_leaf_is_a_command_that_takes_options_anywhere() -> None:
    leaves = _tree()
    assert len(leaves) >= 10
    for path, cmd in leaves:
        assert not getattr(cmd, "commands", None), path
        assert cmd.allow_interspersed_args, f"guardia {' '.join(path)} reads options after arguments as files"


@pytest.mark.parametrize("path", [p for p, _ in _tree()], ids=lambda p: " ".join(p))
def test_help_has_no_spurious_command_no_braces_no_cut_flags(path: tuple[str, ...]) -> None:
    res = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
    assert res.exit_code == 0, res.output
    usage = res.output.split("\n\n")[0]
    assert "COMMAND [ARGS]" not in usage
    assert "{" not in usage and "<list" not in res.output and "<str>" not in res.output
    assert "…" not in res.output
    # every long flag is printed whole
    cmd = dict(_tree())[path]
    for p in cmd.params:
        for opt in getattr(p, "opts", []):
            if opt.startswith("--"):
                assert opt in res.output, f"{opt} missing or cut in guardia {' '.join(path)} --help"


@pytest.mark.parametrize("path", [("check", "rules"), ("test", "rules"), ("routes", "test")])
def test_help_shows_examples(path: tuple[str, ...]) -> None:
    res = CliRunner().invoke(app, [*path, "--help"])
    assert "Examples:" in res.output
    assert f"guardia {' '.join(path)} " in res.output


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_flag(flag: str) -> None:
    out = subprocess.run([sys.executable, "-m", "guardia.cli.main", flag], capture_output=True, text=True,
                         env=ENV, check=True)
    assert out.stdout == f"guardia {__version__}\n"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_rules_url_after_the_file_is_an_option() -> None:
    """The README's own command line: ``--url`` after the file names."""
    url = f"http://127.0.0.1:{_closed_port()}"
    rules = str(ROOT / "examples/grupo-gad/alerts.yml")
    res = CliRunner().invoke(app, ["check", "rules", rules, "--url", url])
    assert "file not found" not in res.output
    assert f"cannot list metric names from {url}" in res.output
    assert res.exit_code == 1


def test_test_rules_run_after_the_file_is_an_option() -> None:
    f = str(ROOT / "examples/grupo-gad/tests/api_test.yml")
    after = CliRunner().invoke(app, ["test", "rules", f, "--run", "no-such-group"])
    before = CliRunner().invoke(app, ["test", "rules", "--run", "no-such-group", f])
    assert "file not found" not in after.output and "--run" not in after.output
    assert (after.exit_code, after.output) == (before.exit_code, before.output)
