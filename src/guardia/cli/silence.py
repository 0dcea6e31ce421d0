"""`guardia silence add|query|expire`: amtool's silence commands, against guardia or an Alertmanager."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime, timedelta

import typer

from guardia.cli.amapi import (
    OUTPUT,
    URL,
    api_matchers,
    call,
    check_output,
    instant,
    matcher_text,
    matchers,
    run,
    table,
    when,
)
from guardia.model import DurationError, parse_duration

app = typer.Typer(help="Add, list and expire silences through the Alertmanager API (as `amtool silence`).",
                  no_args_is_help=True)


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


def _time(text: str, flag: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{flag} {text!r}: use RFC 3339, e.g. 2024-05-01T10:00:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@app.command("add")
def add(
    matcher_args: list[str] = typer.Argument(..., metavar="MATCHERS",
                                             help="Matchers, e.g. alertname=APIDown instance=~api-.*"),
    url: str = URL,
    comment: str = typer.Option("", "--comment", "-c", help="Why (required unless --no-require-comment)."),
    author: str = typer.Option("", "--author", "-a", help="Created by; default your user name."),
    duration: str = typer.Option("1h", "--duration", "-d", help="How long the silence lasts."),
    start: str = typer.Option("", "--start", help="When it starts (RFC 3339); default now."),
    end: str = typer.Option("", "--end", help="When it ends (RFC 3339; overrides --duration)."),
    require_comment: bool = typer.Option(True, "--require-comment/--no-require-comment",
                                         help="Refuse a silence without a comment."),
) -> None:
    """Silence the alerts that match; prints the new silence's ID (as `amtool silence add`).

    Examples:

    \b
      guardia silence add alertname=APIDown -c 'deploying the API' -d 30m
      guardia silence add instance=~'db-.*' severity=warning -c 'disk migration' --end 2030-01-01T06:00:00Z
    """
    if require_comment and not comment:
        raise typer.BadParameter("a comment is required: say why with -c/--comment "
                                 "(or pass --no-require-comment)")
    ms = matchers(matcher_args)
    if not ms:
        raise typer.BadParameter("give at least one matcher, e.g. alertname=APIDown")
    starts = _time(start, "--start") if start else datetime.now(UTC)
    if end:
        ends = _time(end, "--end")
    else:
        try:
            ends = starts + timedelta(milliseconds=parse_duration(duration))
        except DurationError as e:
            raise typer.BadParameter(f"--duration: {e}") from None
    if ends <= starts:
        raise typer.BadParameter("the silence would end before it starts; check --start/--end/--duration")
    body = {"matchers": api_matchers(ms), "startsAt": _iso(starts), "endsAt": _iso(ends),
            "createdBy": author or _author(), "comment": comment}
    run(lambda: typer.echo(call("POST", url, "/silences", json=body)["silenceID"]))


@app.command("query")
def query(
    matcher_args: list[str] = typer.Argument(None, metavar="MATCHERS",
                                             help="Only silences with these matchers."),
    url: str = URL,
    output: str = OUTPUT,
    expired: bool = typer.Option(False, "--expired", help="Show expired silences instead of active ones."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print silence IDs."),
    created_by: str = typer.Option("", "--created-by", help="Only silences created by this author."),
) -> None:
    """List silences (as `amtool silence query`): active and pending ones, or --expired.

    Examples:

    \b
      guardia silence query
      guardia silence query alertname=APIDown -o extended
      guardia silence query --expired -q
    """
    check_output(output)
    flt = [matcher_text(m) for m in api_matchers(matchers(matcher_args or []))]

    def go() -> None:
        silences = call("GET", url, "/silences", params=[("filter", f) for f in flt]) or []
        # amtool lists silences by end time, whatever order the server answers in
        silences.sort(key=lambda s: instant(s.get("endsAt")))
        shown = [s for s in silences
                 if ((s.get("status") or {}).get("state") == "expired") == expired
                 and (not created_by or s.get("createdBy") == created_by)]
        if quiet:
            for s in shown:
                typer.echo(s["id"])
        elif output == "json":
            typer.echo(json.dumps(shown, separators=(",", ":")))
        elif output == "extended":
            head = ["ID", "Matchers", "Starts At", "Ends At", "Updated At", "Created By", "Comment"]
            typer.echo(table(head, [
                [s["id"], "{" + ",".join(matcher_text(m) for m in s.get("matchers") or []) + "}",
                 when(s.get("startsAt")), when(s.get("endsAt")), when(s.get("updatedAt")),
                 s.get("createdBy", ""), s.get("comment", "")] for s in shown]))
        else:
            typer.echo(table(["ID", "Matchers", "Ends At", "Created By", "Comment"], [
                [s["id"], " ".join(matcher_text(m) for m in s.get("matchers") or []), when(s.get("endsAt")),
                 s.get("createdBy", ""), s.get("comment", "")] for s in shown]))

    run(go)


@app.command("expire")
def expire(
    ids: list[str] = typer.Argument(..., metavar="SILENCE_ID...", help="IDs of the silences to expire."),
    url: str = URL,
) -> None:
    """End silences now (as `amtool silence expire`).

    Example: guardia silence expire $(guardia silence query -q alertname=APIDown)
    """
    def go() -> None:
        for i in ids:
            call("DELETE", url, f"/silence/{i}")

    run(go)
