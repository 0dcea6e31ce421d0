"""`guardia test rules FILE...`: promtool's rule unit tests, same files, output and exit codes."""

from __future__ import annotations

import typer

from guardia.rules.unittest import run_unit_tests

app = typer.Typer(help="Run rule unit tests written in promtool's format.",
                  no_args_is_help=True)


@app.callback(invoke_without_command=True)
def main(
    files: list[str] = typer.Argument(..., help="Unit test files (promtool test rules format)."),
    run: list[str] = typer.Option(
        [], "--run", help="Only run test groups whose name matches this regular expression "
                          "(repeatable)."),
    junit: str = typer.Option("", "--junit", help="Also write a JUnit XML report here."),
) -> None:
    """Run the unit tests of each FILE; exit 1 if any fails (as `promtool test rules`)."""
    raise typer.Exit(run_unit_tests(files, run=run, junit=junit or None))
