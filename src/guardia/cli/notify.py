"""`guardia notify test`: send a clearly-marked test notification through a receiver's real
integrations and report, per integration, success or the exact failure.

This is the answer to "the Slack route was never tested": run it after every config change.
Placeholder URLs and secrets are refused with the reason, and nothing is sent to them.

Each outcome is evidence for ``guardia audit`` (a receiver whose last test failed) and
``guardia readiness`` (delivery tested in the last N days), so it is recorded: in the data
directory given with ``--storage.tsdb.path``, or, with ``--url``, by the running guardia that
sends the test itself (with its running config) and records it in its own data directory.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import Any

import typer

from guardia.alerting.notify_test import NotifyTestLog, NotTestable, TestOutcome, run_test
from guardia.cli.routes import load_am_config

app = typer.Typer(help="Send test notifications through configured receivers.", no_args_is_help=True)

TOKEN_ENV = "GUARDIA_TOKEN"  # as guardia.audit.live.TOKEN_ENV (not imported: it pulls in the engine)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _print(outcomes: list[TestOutcome]) -> None:
    for o in outcomes:
        label = f"{o.receiver}/{o.integration}"
        if o.ok:
            typer.echo(f"OK      {label}: delivered in {o.duration_s:.2f}s")
        else:
            hint = "a retry may succeed" if o.retryable else "retrying will not help; fix the config"
            typer.echo(f"FAILED  {label}: {o.error} ({hint})")


def _local(config: str, receiver: str, external_url: str, data_dir: str) -> int:
    cfg = load_am_config(config)
    try:
        run = asyncio.run(run_test(cfg, receiver, external_url, by=_who()))
    except NotTestable as e:
        typer.echo(str(e), err=True)
        return 1
    _print(run.outcomes)
    code = 0 if run.ok else 1
    if not data_dir:
        typer.echo("not recorded: give --storage.tsdb.path (the data directory of the guardia whose "
                   "audit and readiness should see this test), or --url to test through the running "
                   "guardia", err=True)
        return code
    log = NotifyTestLog(data_dir)
    try:
        log.append(run.outcomes)
    except OSError as e:
        typer.echo(f"error: the outcome was not recorded in {log.path}: {e.strerror or e}", err=True)
        return 1
    typer.echo(f"recorded in {log.path}", err=True)
    return code


def _remote(url: str, receiver: str) -> int:
    import httpx

    from guardia.audit.live import redact_url  # messages never print the password of user:pw@

    headers = {"Authorization": f"Bearer {os.environ[TOKEN_ENV]}"} if os.environ.get(TOKEN_ENV) else {}
    endpoint = url.rstrip("/") + "/api/v1/notify/test"
    shown = redact_url(endpoint)
    try:
        r = httpx.post(endpoint, json={"receiver": receiver}, headers=headers, timeout=120)
    except httpx.HTTPError as e:
        typer.echo(f"error: {shown}: {type(e).__name__}: {redact_url(str(e))}", err=True)
        return 1
    try:
        body: Any = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") != "success":
        err = body.get("error") if isinstance(body, dict) else r.text.strip()[:200] or "(no body)"
        hint = ""
        if r.status_code in (401, 403):
            hint = (f" (sending a test needs an editor: set {TOKEN_ENV} to an editor's API token, or put an "
                    "editor's user:password@ in the URL)")
        elif r.status_code in (404, 405):
            hint = " (is it a guardia? a Prometheus cannot send notifications)"
        typer.echo(f"error: {shown} answered HTTP {r.status_code}: {err}{hint}", err=True)
        return 1
    data = body["data"]
    outcomes = [TestOutcome.from_dict(o) for o in data.get("outcomes") or []]
    _print(outcomes)
    if data.get("recordError"):
        typer.echo(f"error: the running guardia could not record the outcome: {data['recordError']}",
                   err=True)
        return 1
    typer.echo(f"recorded by {redact_url(url.rstrip('/'))} in {data.get('recordedIn', '?')}", err=True)
    return 0 if outcomes and all(o.ok for o in outcomes) else 1


@app.command("test")
def test(
    receiver: str = typer.Option(..., "--receiver", "-r", help="Receiver name from alertmanager.yml"),
    config: str = typer.Option("", "--config", "--config.file", help="alertmanager.yml (or guardia.yml)"),
    external_url: str = typer.Option("http://localhost:9090", "--external-url",
                                     help="Link shown in the notification"),
    data_dir: str = typer.Option("", "--storage.tsdb.path",
                                 help="Record the outcome in this guardia data directory "
                                      "(<dir>/alertmanager/notify_tests.jsonl), where its audit and "
                                      "readiness read it."),
    url: str = typer.Option("", "--url",
                            help="A running guardia: it sends the test with its running config and "
                                 "records the outcome itself (credentials: user:password@ in the URL, "
                                 f"or an API token in ${TOKEN_ENV})."),
) -> None:
    """Send one test alert through every integration of RECEIVER; exit 1 if any failed."""
    if url and (config or data_dir):
        typer.echo("error: with --url the running guardia tests with its own config and records in its "
                   "own data directory; drop --config and --storage.tsdb.path", err=True)
        raise typer.Exit(2)
    if not url and not config:
        typer.echo("error: give --config (test from the files here) or --url (through a running guardia)",
                   err=True)
        raise typer.Exit(2)
    raise typer.Exit(_remote(url, receiver) if url else _local(config, receiver, external_url, data_dir))
