"""`guardia token create|list|revoke`: API tokens for automation, kept under the data directory.

The token's text is printed once, by ``create``; only its hash is stored.  A running server
picks up a change without a reload (it watches the tokens file).  Each change is written to
the audit log as done by ``cli:<login name>``.
"""

from __future__ import annotations

import datetime as dt
import getpass

import typer

from guardia.model import DurationError, parse_duration
from guardia.web.auth.audit import AuditLog
from guardia.web.auth.tokens import TokenError, TokenStore

DATA = typer.Option("data", "--storage.tsdb.path", help="The data directory of the guardia server.")

create_app = typer.Typer(help="Create an API token and print it (once).\n\n"
                              "Example: guardia token create --name ci-deploy --role editor --expires 90d\n\n"
                              "Use it as `Authorization: Bearer <token>` (Prometheus: authorization: "
                              "{credentials_file: ...}).")
list_app = typer.Typer(help="List API tokens (id, name, role, created, expires); never their text.")
revoke_app = typer.Typer(help="Revoke an API token by its id (from `guardia token list`).")


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _when(t: float | None) -> str:
    if t is None:
        return "never"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@create_app.callback(invoke_without_command=True)
def create(
    name: str = typer.Option(..., "--name", help="What uses the token (e.g. ci-deploy, grafana)."),
    role: str = typer.Option("viewer", "--role", help="viewer, editor or admin."),
    expires: str = typer.Option("", "--expires", help="Lifetime such as 90d (default: no expiry)."),
    data: str = DATA,
) -> None:
    ttl = None
    if expires:
        try:
            ttl = parse_duration(expires) / 1000
        except DurationError as e:
            raise typer.BadParameter(f"--expires: {e}") from None
    try:
        token, text = TokenStore(data).create(name, role, ttl)
    except TokenError as e:
        raise typer.BadParameter(str(e)) from None
    AuditLog(data).append("token.create", _who(), token_id=token.id, name=token.name, role=token.role,
                          expires=token.expires)
    typer.echo(f"created token {token.id} ({token.name}, {token.role}, expires {_when(token.expires)}); "
               "it is shown only now:", err=True)
    typer.echo(text)


@list_app.callback(invoke_without_command=True)
def list_tokens(data: str = DATA) -> None:
    tokens = TokenStore(data).list()
    if not tokens:
        typer.echo("no API tokens (create one with: guardia token create --name NAME --role ROLE)", err=True)
        return
    typer.echo(f"{'ID':<10}{'ROLE':<8}{'CREATED':<22}{'EXPIRES':<22}NAME")
    for t in tokens:
        typer.echo(f"{t.id:<10}{t.role:<8}{_when(t.created):<22}{_when(t.expires):<22}{t.name}")


@revoke_app.callback(invoke_without_command=True)
def revoke(token_id: str = typer.Argument(..., help="The token's id."), data: str = DATA) -> None:
    try:
        token = TokenStore(data).revoke(token_id)
    except TokenError as e:
        typer.echo(f"guardia token revoke: {e}", err=True)
        raise typer.Exit(1) from None
    AuditLog(data).append("token.revoke", _who(), token_id=token.id, name=token.name, role=token.role)
    typer.echo(f"revoked token {token.id} ({token.name})", err=True)
