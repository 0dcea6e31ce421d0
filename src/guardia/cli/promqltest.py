"""`guardia promqltest FILE...`: run PromQL test scripts against guardia's engine."""

from __future__ import annotations

from pathlib import Path

import typer

from guardia.promql.scripttest import ScriptError, ScriptRunner

app = typer.Typer(help="Run PromQL test scripts (Prometheus's promqltest format) against the engine.")


@app.callback(invoke_without_command=True)
def main(
    files: list[Path] = typer.Argument(..., help="Test scripts (.test files) to run.", exists=True,
                                       dir_okay=False, readable=True),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print failures and the totals."),
) -> None:
    """Print passed/failed per file and in total; exit 1 on any failure."""
    runner = ScriptRunner()
    total = [0, 0]
    broken = False
    for f in files:
        try:
            rep = runner.run_file(f)
        except ScriptError as e:
            typer.echo(f"{f}: invalid test script: {e}", err=True)
            broken = True
            continue
        for fl in rep.failures:
            typer.echo(f"FAIL {fl.file}:{fl.line}: {fl.query}")
            for line in fl.diff.splitlines():
                typer.echo(f"    {line}")
        if not quiet or rep.failed:
            typer.echo(f"{f}: {rep.passed} passed, {rep.failed} failed")
        total[0] += rep.passed
        total[1] += rep.failed
    evals = total[0] + total[1]
    share = 100.0 * total[0] / evals if evals else 100.0
    typer.echo(f"total: {total[0]} passed, {total[1]} failed; {share:.1f}% of evals pass")
    if total[1] or broken:
        raise typer.Exit(1)
