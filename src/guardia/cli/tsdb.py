"""`guardia tsdb` (not yet implemented: issue #4)."""

from __future__ import annotations

import typer

from guardia.cli._stub import not_yet

app = typer.Typer(help="[not yet available: issue #4]", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def main() -> None:
    """Not yet available (issue #4)."""
    not_yet("tsdb", 4)
