"""`guardia audit [FILE...] [--url URL]`: rule, routing and coverage audits, for people and CI."""

from __future__ import annotations

import sys

import typer

HELP = (
    "Audit rules, routing and coverage, optionally against a running store.\n\n"
    "FILE: what `guardia check config` takes (a prometheus.yml or guardia.yml with its rule "
    "files and alertmanager config, an alertmanager.yml, rule files). URL: a running guardia or "
    "Prometheus whose series the rules are checked against (metrics that never existed or "
    "vanished, labels they lack, rate() over gauges, vector matching that cannot match, HTTP "
    "services without request metrics, targets down for a day, certificates about to expire, "
    "retention).\n\n"
    "Silence one finding where it is written: `# guardia disable CHECK` on the rule (or the line "
    "above it), `# guardia snooze 2026-12-31 CHECK`, or `# guardia file/disable CHECK`.\n\n"
    "Exit status: 0 when nothing at or above --fail-on (default: bug) was found, 1 otherwise, "
    "2 on bad usage.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia audit examples/grupo-gad/prometheus.yml examples/grupo-gad/alertmanager.yml\n"
    "  guardia audit guardia.yml --url http://127.0.0.1:9090 --format sarif > audit.sarif\n"
    "  guardia audit alerts.yml --url http://prometheus:9090 --format json | jq '.[].check'\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


@app.callback(invoke_without_command=True)
def main(
    files: list[str] = typer.Argument(None, help="Config and rule files to audit."),
    url: str = typer.Option("", "--url", help="A running guardia or Prometheus (http://host:port)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json, md or sarif."),
    fail_on: str = typer.Option("bug", "--fail-on",
                                help="Lowest severity that makes the exit status 1: information, "
                                     "warning or bug."),
    retention: str = typer.Option("", "--retention",
                                  help="The store's retention (e.g. 15d) when --url cannot tell it."),
    data_dir: str = typer.Option("", "--storage.tsdb.path",
                                 help="A guardia data directory: its recorded `guardia notify test` "
                                      "outcomes are read (with --url alone, the running guardia's)."),
) -> None:
    from guardia.audit import notify_tests
    from guardia.audit.finding import Severity, exit_code
    from guardia.audit.inputs import from_files
    from guardia.audit.live import HttpLive
    from guardia.audit.output import FORMATS, render
    from guardia.audit.run import audit
    from guardia.model import parse_duration

    if fmt not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}, not {fmt!r}", err=True)
        raise typer.Exit(2)
    try:
        threshold = Severity.parse(fail_on)
        retention_s = parse_duration(retention) / 1000 if retention else None
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if not files and not url:
        typer.echo("error: give config or rule files, --url, or both", err=True)
        raise typer.Exit(2)
    missing = [f for f in files or [] if not _exists(f)]
    if missing:
        typer.echo(f"error: no such file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    inp = from_files(list(files or []))
    live = HttpLive(url) if url else None
    tests = notify_tests.from_data_dir(data_dir) if data_dir else notify_tests.from_url(url) if url else None
    try:
        findings = audit(inp, live, retention_s=retention_s, tests=tests)
    finally:
        if live is not None:
            live.close()
    sys.stdout.write(render(findings, fmt))
    raise typer.Exit(exit_code(findings, threshold))


def _exists(path: str) -> bool:
    import os

    return os.path.isfile(path)
