"""`guardia test rules` (not yet implemented: issue #8)."""

from __future__ import annotations

import typer

from guardia.cli._stub import not_yet

app = typer.Typer(help="[not yet available: issue #8]", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def main() -> None:
    """Not yet available (issue #8)."""
    not_yet("test rules", 8)
