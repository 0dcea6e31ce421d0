"""`guardia ack`: acknowledge firing alerts (escalation stops; who, when and why recorded)."""

from __future__ import annotations

import getpass
import os
from typing import Any

import httpx
import typer

from guardia.cli.amapi import URL, matchers

app = typer.Typer(help="Acknowledge firing alerts so their route's escalation stops.\n\n"
                       "Examples:\n\n  guardia ack DiskFull host=db1 -c 'vacuuming the table'\n\n"
                       "  guardia ack --list", no_args_is_help=True)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


def _call(method: str, url: str, path: str, **kw: Any) -> Any:
    try:
        r = httpx.request(method, url.rstrip("/") + path, timeout=30, **kw)
    except httpx.HTTPError as e:
        typer.echo(f"Error: {url}: {e or type(e).__name__}", err=True)
        raise typer.Exit(1) from None
    body = r.json() if r.content else {}
    if r.status_code >= 400:
        typer.echo(f"Error: {body.get('error') or r.text.strip()}", err=True)
        raise typer.Exit(1)
    return body.get("data")


@app.callback(invoke_without_command=True)
def ack(
    matcher_args: list[str] = typer.Argument(None, metavar="MATCHERS",
                                             help="Matchers, e.g. DiskFull host=db1 (first word: alertname)"),
    url: str = URL,
    comment: str = typer.Option("", "--comment", "-c", help="Why, what you are doing about it."),
    by: str = typer.Option("", "--by", "-b", help="Who acknowledges; default your user name."),
    list_: bool = typer.Option(False, "--list", "-l", help="List acknowledgements in force instead."),
) -> None:
    """Acknowledge the firing alerts the matchers select, or list acknowledgements."""
    if list_:
        for a in _call("GET", url, "/api/v1/acks") or []:
            typer.echo(f"{a['at']}  {a['by']}  {' '.join(a['matchers']) or ','.join(a['fingerprints'])}"
                       f"  {a['comment']}")
        return
    if not matcher_args:
        raise typer.BadParameter("name the alerts to acknowledge, e.g. guardia ack DiskFull host=db1")
    ms = matchers(matcher_args)
    a = _call("POST", url, "/api/v1/acks",
              json={"matchers": [str(m) for m in ms], "by": by or _who(), "comment": comment})
    typer.echo(f"acknowledged {len(a['fingerprints'])} alert(s) as {a['by']} (id {a['id']})")
