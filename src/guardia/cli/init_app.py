"""`guardia init app --framework fastapi|django`: instrument an app and monitor it.

Prints the lines to add to the app; writes a prometheus.yml with the app's scrape job, its alert
rules (error rate, latency SLO, WebSocket saturation) and a dashboard, all reading metrics
``guardia.instrument`` exposes.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

HELP = (
    "Print the two lines that instrument a FastAPI or Django app, and write the scrape job, alert "
    "rules and dashboard that match its metrics.\n\n"
    "Files written under --dir: prometheus.yml (the scrape job; run it with `guardia serve "
    "--config DIR/prometheus.yml`), rules/JOB-alerts.yml, dashboards/JOB.json (Grafana's JSON "
    "model; `guardia dashboards import` or a provisioning folder). Existing files are kept unless "
    "--force.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia init app --framework fastapi\n"
    "  guardia init app --framework fastapi --job api --target api:8000 \\\n"
    "      --websocket-prefix ggrt_ --dir monitoring\n"
    "  guardia init app --framework django --naming django --dir monitoring\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@app.callback(invoke_without_command=True)
def main(
    framework: str = typer.Option(..., "--framework", help="fastapi (also Starlette) or django."),
    job: str = typer.Option("api", "--job", help="The scrape job's name (the job label)."),
    target: str = typer.Option("127.0.0.1:8000", "--target", help="host:port the app listens on."),
    naming: str = typer.Option("instrumentator", "--naming",
                               help="Metric names: instrumentator (http_requests_total, ...) or "
                                    "django (django-prometheus's django_http_*)."),
    websocket_prefix: str = typer.Option("websocket_", "--websocket-prefix",
                                         help="Prefix of the WebSocket metrics (e.g. ggrt_)."),
    websocket_max_connections: int = typer.Option(
        1000, "--websocket-max-connections",
        help="The app's connection limit: WebSocketSaturation fires above 80% of it."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to write the files."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
) -> None:
    """Exit 0 after printing the lines and writing the files; 1 on a bad option or existing files."""
    from guardia.instrument.artifacts import (
        AppSpec,
        alert_rules,
        dashboard,
        scrape_config,
        setup_lines,
    )
    from guardia.instrument.http_metrics import InstrumentError

    try:
        spec = AppSpec(framework=framework, job=job, target=target, naming=naming,
                       websocket_prefix=websocket_prefix,
                       websocket_max_connections=websocket_max_connections)
    except InstrumentError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    rules_rel = f"rules/{spec.job}-alerts.yml"
    files = {
        directory / "prometheus.yml": to_yaml(scrape_config(spec, rules_rel)),
        directory / rules_rel: to_yaml(alert_rules(spec)),
        directory / "dashboards" / f"{spec.job}.json": json.dumps(dashboard(spec), indent=2) + "\n",
    }
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        typer.echo(f"error: {', '.join(existing)} exist(s); use --force to overwrite, or --dir "
                   "to write elsewhere", err=True)
        raise typer.Exit(1)
    for line in setup_lines(spec):
        typer.echo(line)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        typer.echo(f"wrote {path}", err=True)
