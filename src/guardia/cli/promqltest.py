"""`guardia promqltest` (not yet implemented: issue #6)."""

from __future__ import annotations

import typer

from guardia.cli._stub import not_yet

app = typer.Typer(help="[not yet available: issue #6]", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def main() -> None:
    """Not yet available (issue #6)."""
    not_yet("promqltest", 6)
