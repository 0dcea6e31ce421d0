"""`guardia test rules FILE...`: promtool's rule unit tests, same files, output and exit codes."""

from __future__ import annotations

import typer

from guardia.rules.unittest import run_unit_tests

HELP = (
    "Run rule unit tests written in promtool's format.\n\n"
    "Each FILE lists rule_files, input_series and the alerts and PromQL values expected at "
    "given times; output and exit codes are those of `promtool test rules` (0 all passed, 1 "
    "any failed).\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia test rules examples/grupo-gad/tests/*.yml\n"
    "  guardia test rules tests/api_test.yml --run '^api' --junit report.xml\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


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
