"""`guardia check metrics`: lint an exposition read from stdin, as `promtool check metrics`."""

from __future__ import annotations

import sys

import typer

from guardia.model.metriclint import lint
from guardia.model.textparse import ParseError

app = typer.Typer(
    help="Lint metric names and help in an exposition read from standard input (as `promtool check "
         "metrics`): counters end in _total, base units spelled out, help text present, ...\n\n"
         "Exit status: 0 clean, 3 lint problems, 1 when the input does not parse.\n\n"
         "Examples:\n\n"
         "\b\n"
         "  curl -s http://127.0.0.1:8000/metrics | guardia check metrics\n"
         "  guardia check metrics < exposition.txt\n",
)


@app.callback(invoke_without_command=True)
def main() -> None:
    try:
        problems = lint(sys.stdin.read())
    except ParseError as e:
        typer.echo(f"error while linting: text format parsing error in line {e.line}: {e.reason}", err=True)
        raise typer.Exit(1) from None
    for p in problems:
        typer.echo(str(p), err=True)
    raise typer.Exit(3 if problems else 0)
