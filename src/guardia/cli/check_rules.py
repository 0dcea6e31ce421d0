"""`guardia check rules FILE...`: what `promtool check rules` checks, plus templates and,
with ``--url``, whether the metrics each rule reads exist on a running guardia/Prometheus."""

from __future__ import annotations

import httpx
import typer

from guardia.rules.check import Server, check_file, missing_metrics

HELP = (
    "Check rule files: syntax, duplicates, templates, metrics that exist.\n\n"
    "Output and exit codes follow `promtool check rules`: 0 when every file is valid, 1 on "
    "errors, 3 on lint warnings alone with --lint-fatal. With --url, rules that read metrics the "
    "server does not have (so they can never fire) are errors too.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia check rules alerts.yml rules/*.yml\n"
    "  guardia check rules examples/grupo-gad/alerts.yml --url http://127.0.0.1:9090\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


@app.callback(invoke_without_command=True)
def main(
    files: list[str] = typer.Argument(..., help="Rule files to check."),
    url: str = typer.Option(
        "", "--url",
        help="A running guardia or Prometheus (http://host:port): report rules whose metrics "
             "it does not have, so they can never fire."),
    lint_fatal: bool = typer.Option(False, "--lint-fatal",
                                    help="Exit 3 when only lint warnings were found."),
) -> None:
    """Exit 0 when all files are valid, 1 on errors, 3 on warnings with --lint-fatal."""
    reports = [check_file(f) for f in files]
    failed = any(r.errors for r in reports)
    if url:
        server = Server(url)
        try:
            known = server.metric_names()
            missing_metrics(reports, known, url, server)
        except (httpx.HTTPError, ValueError) as e:
            typer.echo(f"error: cannot list metric names from {url}: {e or type(e).__name__}",
                       err=True)
            raise typer.Exit(1) from None
        finally:
            server.close()
    warned = False
    for r in reports:
        typer.echo(f"Checking {r.path}")
        if r.errors:
            typer.echo("  FAILED:", err=True)
            for problem in r.errors:
                typer.echo(problem, err=True)
            typer.echo()
            continue
        for w in r.warnings:
            typer.echo(f"  WARNING: {w}", err=True)
        if r.missing:
            failed = True
            typer.echo(f"  FAILED: {len(r.missing)} rules read metrics that do not exist:",
                       err=True)
            for m in r.missing:
                typer.echo(f"  {m}", err=True)
        else:
            typer.echo(f"  SUCCESS: {r.rules} rules found")
        warned |= bool(r.warnings)
        typer.echo()
    if failed:
        raise typer.Exit(1)
    if warned and lint_fatal:
        raise typer.Exit(3)
