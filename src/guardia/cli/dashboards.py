"""`guardia dashboards import FILE...`: push Grafana dashboards (JSON or YAML) to a running
guardia through Grafana's own API path (``POST /api/dashboards/db``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer

HELP = (
    "Import Grafana dashboards (JSON model, as exported from Grafana or grafana.com, or the same "
    "in YAML) into a running guardia.\n\n"
    "Each file is checked first; a file that does not parse is reported with the field at fault "
    "and not sent. Exit 0 when every file was imported, 1 otherwise.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia dashboards import node-exporter-full.json api.yml\n"
    "  guardia dashboards import --url http://monitor:9090 --overwrite dashboards/*.json\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


def _read(path: str) -> dict[str, Any]:
    from guardia.web.ui.dashboards.model import DashboardError, load_text, parse_dashboard

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DashboardError([f"cannot read: {e}"], path) from None
    data = load_text(text, path)
    parse_dashboard(data, path)  # every problem, with its field path, before anything is sent
    return data


@app.callback(invoke_without_command=True)
def main(
    files: list[str] = typer.Argument(..., help="Dashboard files (.json, .yml, .yaml)."),
    url: str = typer.Option("http://127.0.0.1:9090", "--url", help="The running guardia."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace a saved dashboard with the same uid, whatever its version."),
    folder: str = typer.Option("", "--folder", help="Folder to file the dashboards under."),
) -> None:
    from guardia.web.ui.dashboards.model import DashboardError

    failed = False
    with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
        for path in files:
            try:
                data = _read(path)
            except DashboardError as e:
                failed = True
                typer.echo(f"{path}: not imported:", err=True)
                for p in e.problems:
                    typer.echo(f"  {p}", err=True)
                continue
            body = {"dashboard": data, "overwrite": overwrite, "folderUid": folder,
                    "message": f"guardia dashboards import {Path(path).name}"}
            try:
                r = client.post("/api/dashboards/db", json=body)
            except httpx.HTTPError as e:
                typer.echo(f"error: cannot reach guardia at {url}: {e or type(e).__name__} "
                           "(is `guardia serve` running? use --url)", err=True)
                raise typer.Exit(1) from None
            answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            if r.status_code != 200:
                failed = True
                hint = " (use --overwrite to replace it)" if answer.get("status") in (
                    "version-mismatch", "name-exists") else ""
                typer.echo(f"{path}: not imported: {answer.get('message') or r.text}{hint}", err=True)
                continue
            typer.echo(f"{path}: imported as {url.rstrip('/')}{answer['url']} (version {answer['version']})")
    if failed:
        raise typer.Exit(1)
