"""`guardia alert query|add`: amtool's alert commands, against guardia or an Alertmanager."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from guardia.cli.amapi import (
    OUTPUT,
    URL,
    api_matchers,
    call,
    check_output,
    instant,
    labels_text,
    matcher_text,
    matchers,
    run,
    table,
    when,
)

app = typer.Typer(help="List and add alerts through the Alertmanager API (as `amtool alert`).",
                  no_args_is_help=True)


@app.command("query")
def query(
    matcher_args: list[str] = typer.Argument(None, metavar="MATCHERS",
                                             help="Label matchers, e.g. severity=critical team=~db|api"),
    url: str = URL,
    output: str = OUTPUT,
    active: bool = typer.Option(False, "--active", "-a", help="Show active alerts."),
    silenced: bool = typer.Option(False, "--silenced", "-s", help="Show silenced alerts."),
    inhibited: bool = typer.Option(False, "--inhibited", "-i", help="Show inhibited alerts."),
    unprocessed: bool = typer.Option(False, "--unprocessed", "-u", help="Show unprocessed alerts."),
    receiver: str = typer.Option("", "--receiver", "-r", help="Only alerts routed to receivers matching "
                                 "this regular expression."),
) -> None:
    """Show the alerts the Alertmanager holds; with no state flag, the active ones.

    Examples:

    \b
      guardia alert query
      guardia alert query severity=critical --alertmanager.url http://127.0.0.1:9090
      guardia alert query APIDown -o extended
    """
    check_output(output)
    if not (active or silenced or inhibited or unprocessed):
        active = True
    flt = [matcher_text(m) for m in api_matchers(matchers(matcher_args or []))]

    def go() -> None:
        params: list[tuple[str, str]] = [("active", str(active).lower()), ("silenced", str(silenced).lower()),
                                         ("inhibited", str(inhibited).lower()),
                                         ("unprocessed", str(unprocessed).lower()),
                                         *(("filter", f) for f in flt)]
        if receiver:
            params.append(("receiver", receiver))
        # amtool lists alerts by start time, whatever order the server answers in
        alerts = sorted(call("GET", url, "/alerts", params=params) or [],
                        key=lambda a: instant(a.get("startsAt")))
        if output == "json":
            typer.echo(json.dumps(alerts, separators=(",", ":")))
        elif output == "extended":
            typer.echo(table(["Labels", "Annotations", "Starts At", "Ends At", "Generator URL", "State"], [
                [labels_text(a.get("labels") or {}), labels_text(a.get("annotations") or {}),
                 when(a.get("startsAt")), when(a.get("endsAt")), a.get("generatorURL") or "",
                 (a.get("status") or {}).get("state", "")] for a in alerts]))
        else:
            typer.echo(table(["Alertname", "Starts At", "Summary", "State"], [
                [(a.get("labels") or {}).get("alertname", ""), when(a.get("startsAt")),
                 (a.get("annotations") or {}).get("summary", ""), (a.get("status") or {}).get("state", "")]
                for a in alerts]))

    run(go)


def _parse_time(text: str, flag: str) -> str:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{flag} {text!r}: use RFC 3339, e.g. 2024-05-01T10:00:00Z") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


@app.command("add")
def add(
    label_args: list[str] = typer.Argument(
        ..., metavar="LABELS", help="Alert labels name=value; a first word alone is the alertname."),
    url: str = URL,
    annotation: list[str] = typer.Option([], "--annotation", help="Annotation name=value (repeatable)."),
    generator_url: str = typer.Option("", "--generator-url", help="Link back to the alert's source."),
    start: str = typer.Option("", "--start", help="startsAt (RFC 3339); default now."),
    end: str = typer.Option("", "--end",
                            help="endsAt (RFC 3339); default: the Alertmanager's resolve timeout."),
) -> None:
    """Send one alert to the Alertmanager (as `amtool alert add`), e.g. to test routing and receivers.

    Examples:

    \b
      guardia alert add APIDown severity=critical --annotation summary='API is down'
      guardia alert add alertname=DiskFull instance=db1 --end 2030-01-01T00:00:00Z
    """
    labels: dict[str, str] = {}
    for m in matchers(label_args):
        if m.type.value != "=":
            raise typer.BadParameter(f"{m.name}: alert labels take '=' only")
        labels[m.name] = m.value
    annotations: dict[str, str] = {}
    for a in annotation:
        name, eq, value = a.partition("=")
        if not eq or not name:
            raise typer.BadParameter(f"--annotation {a!r}: write name=value")
        annotations[name] = value.strip("'\"")
    alert: dict[str, object] = {"labels": labels, "annotations": annotations}
    if generator_url:
        alert["generatorURL"] = generator_url
    if start:
        alert["startsAt"] = _parse_time(start, "--start")
    if end:
        alert["endsAt"] = _parse_time(end, "--end")
    run(lambda: call("POST", url, "/alerts", json=[alert]))
