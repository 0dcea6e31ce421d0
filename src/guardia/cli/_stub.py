"""A clear refusal for commands whose capability has not landed yet."""

from __future__ import annotations

import typer
from rich.console import Console


def not_yet(what: str, issue: int) -> None:
    Console(stderr=True).print(
        f"[yellow]guardia {what}[/] is not available in this version yet (tracked in issue #{issue})."
    )
    raise typer.Exit(code=2)
