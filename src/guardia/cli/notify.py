"""`guardia notify test`: send a clearly-marked test notification through a receiver's real
integrations and report, per integration, success or the exact failure.

This is the answer to "the Slack route was never tested": run it after every config change.
Placeholder URLs and secrets are refused with the reason, and nothing is sent to them.
"""

from __future__ import annotations

import asyncio
import time

import typer

from guardia.alerting.receivers import build_notifier
from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.types import Alert, system_clock
from guardia.cli.routes import load_am_config
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.model.labels import Labels

app = typer.Typer(help="Send test notifications through configured receivers.", no_args_is_help=True)

TEST_ALERTNAME = "GuardiaTestNotification"


def test_alert(receiver: str, now_ns: int) -> Alert:
    return Alert(
        labels=Labels({"alertname": TEST_ALERTNAME, "severity": "none", "receiver": receiver}),
        annotations=Labels({
            "summary": f"TEST notification from guardia for receiver {receiver!r}",
            "description": "Sent by `guardia notify test` to check this route end to end. "
                           "No action is needed.",
        }),
        starts_at=now_ns, ends_at=0, updated_at=now_ns,
    )


async def _run(cfg: AlertmanagerConfig, name: str, external_url: str) -> int:
    receiver = cfg.receiver(name)
    if receiver is None:
        names = ", ".join(r.name for r in cfg.receivers) or "(none)"
        typer.echo(f'receiver "{name}" is not defined; defined receivers: {names}', err=True)
        return 1
    refused = [w for w in cfg.warnings if "would never deliver" in w.message and f'"{name}"' in w.message]
    if refused:
        for w in refused:
            typer.echo(f"REFUSED {w}", err=True)
        typer.echo("nothing was sent: fix the placeholder values above first", err=True)
        return 1
    integrations = receiver.integrations()
    if not integrations:
        typer.echo(f'receiver "{name}" has no integrations: alerts routed to it go nowhere', err=True)
        return 1
    now = system_clock()
    alert = test_alert(name, now)
    ctx = NotifyContext(group_key=f'{{}}:{{alertname="{TEST_ALERTNAME}"}}', receiver=name,
                        group_labels=Labels({"alertname": TEST_ALERTNAME}), now=now,
                        external_url=external_url)
    failures = 0
    for kind, i, c in integrations:
        label = f"{name}/{kind}[{i}]"
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(build_notifier(kind, c, cfg).send(ctx, [alert]), 30)
        except NotifyError as e:
            failures += 1
            hint = "a retry may succeed" if e.retryable else "retrying will not help; fix the config"
            typer.echo(f"FAILED  {label}: {e} ({hint})")
            continue
        except TimeoutError:
            failures += 1
            typer.echo(f"FAILED  {label}: no answer within 30s")
            continue
        typer.echo(f"OK      {label}: delivered in {time.monotonic() - t0:.2f}s")
    return 1 if failures else 0


@app.command("test")
def test(
    receiver: str = typer.Option(..., "--receiver", "-r", help="Receiver name from alertmanager.yml"),
    config: str = typer.Option(..., "--config", "--config.file", help="alertmanager.yml (or guardia.yml)"),
    external_url: str = typer.Option("http://localhost:9090", "--external-url",
                                     help="Link shown in the notification"),
) -> None:
    """Send one test alert through every integration of RECEIVER; exit 1 if any failed."""
    cfg = load_am_config(config)
    raise typer.Exit(asyncio.run(_run(cfg, receiver, external_url)))
