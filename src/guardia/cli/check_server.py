"""`guardia check healthy|ready`: ask a running server, as `promtool check healthy|ready`.

For deploy scripts and container health checks: exit 0 when ``/-/healthy`` (or ``/-/ready``)
answers 200, 1 otherwise, with the server's answer or the reason it could not be asked.
"""

from __future__ import annotations

import httpx
import typer

URL = typer.Option("http://localhost:9090", "--url", help="The server to ask (guardia or Prometheus).")


def check(url: str, endpoint: str) -> int:
    target = url.rstrip("/") if "://" in url else "http://" + url.rstrip("/")
    try:
        r = httpx.get(target + endpoint, timeout=10)
    except httpx.HTTPError as e:
        typer.echo(f"  FAILED: {target}{endpoint}: {e or type(e).__name__}", err=True)
        return 1
    if r.status_code != 200:
        typer.echo(f"  FAILED: {target}{endpoint} answered {r.status_code}: {r.text.strip()}", err=True)
        return 1
    typer.echo(f"  SUCCESS: {r.text.strip()}", err=True)
    return 0


healthy_app = typer.Typer(help="Check that a server is healthy (GET /-/healthy answers 200).\n\n"
                               "Example: guardia check healthy --url http://127.0.0.1:9090")
ready_app = typer.Typer(help="Check that a server is ready to serve queries (GET /-/ready answers 200).\n\n"
                             "Example: guardia check ready --url http://127.0.0.1:9090")


@healthy_app.callback(invoke_without_command=True)
def healthy(url: str = URL) -> None:
    raise typer.Exit(check(url, "/-/healthy"))


@ready_app.callback(invoke_without_command=True)
def ready(url: str = URL) -> None:
    raise typer.Exit(check(url, "/-/ready"))
