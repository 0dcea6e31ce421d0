"""`guardia readiness`: the go/no-go checklist, each item PASS/FAIL/UNKNOWN with its evidence."""

from __future__ import annotations

import sys

import typer

HELP = (
    "A go/no-go checklist for production, from evidence.\n\n"
    "Items: monitoring coverage; alert delivery tested recently; retention against the required "
    "period; snapshots present and restorable (the newest one is restored into a temporary "
    "directory and read back); SLOs defined and within budget; no secrets in the config files; "
    "authentication and TLS on. Each is PASS, FAIL or UNKNOWN with its evidence (query and value, "
    "file:line, timestamp); UNKNOWN is never PASS, and the verdict is GO only when every required "
    "item passed.\n\n"
    "Exit status: 0 for GO, 1 for NO-GO, 2 on bad usage.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia readiness guardia.yml --url http://127.0.0.1:9090 --storage.tsdb.path data\n"
    "  guardia readiness guardia.yml --profile government --web.config.file web.yml \\\n"
    "      --format html > go.html\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


@app.callback(invoke_without_command=True)
def main(
    files: list[str] = typer.Argument(None, help="Config and rule files (as `guardia audit`)."),
    url: str = typer.Option("", "--url", help="The running guardia (or Prometheus) to read evidence from."),
    profile: str = typer.Option("small-team", "--profile", help="small-team or government."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, html or json."),
    data_dir: str = typer.Option("", "--storage.tsdb.path", "--data-dir",
                                 help="guardia's data directory (its snapshots/ are checked)."),
    web_config: str = typer.Option("", "--web.config.file",
                                   help="The web config file guardia serves with (TLS, users)."),
    retention: str = typer.Option("", "--retention",
                                  help="The retention, when --url cannot tell it (e.g. 90d)."),
) -> None:
    from guardia.audit import notify_tests
    from guardia.audit.inputs import from_files
    from guardia.audit.live import HttpLive
    from guardia.audit.readiness import PROFILES, Sources, checklist, render
    from guardia.audit.run import audit
    from guardia.model import parse_duration

    if profile not in PROFILES:
        typer.echo(f"error: --profile must be one of {', '.join(PROFILES)}, not {profile!r}", err=True)
        raise typer.Exit(2)
    if fmt not in ("md", "html", "json"):
        typer.echo(f"error: --format must be md, html or json, not {fmt!r}", err=True)
        raise typer.Exit(2)
    try:
        retention_s = parse_duration(retention) / 1000 if retention else None
    except ValueError as e:
        typer.echo(f"error: --retention: {e}", err=True)
        raise typer.Exit(2) from None
    import os

    missing = [f for f in [*(files or []), *([web_config] if web_config else [])] if not os.path.isfile(f)]
    if missing:
        typer.echo(f"error: no such file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    inp = from_files(list(files or []))
    live = HttpLive(url) if url else None
    tests = notify_tests.from_data_dir(data_dir) if data_dir else notify_tests.from_url(url) if url else None
    try:
        findings = audit(inp, live, retention_s=retention_s, tests=tests)
        src = Sources(inp, findings, live, url=url, data_dir=data_dir,
                      web_config_file=web_config or inp.web_config_file, retention_s=retention_s,
                      tests=tests)
        result = checklist(src, profile)
    finally:
        if live is not None:
            live.close()
    sys.stdout.write(render(result, fmt))
    raise typer.Exit(0 if result.verdict == "GO" else 1)
