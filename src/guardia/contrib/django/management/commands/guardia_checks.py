"""``manage.py guardia_checks``: run the checks of guardia.yml once, here, in the app's process.

For the cron-style use of seed 004 (``check_system_health()`` every hour) and to try checks
while writing them: every check runs once (in the same bounded pool as in guardia), each
result is printed as ``NAME STATUS value(s) - message``, and the exit status is the worst
Nagios state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN or failed).  With ``--push`` a threshold
that is crossed fires its alert through the client (and one that is not resolves it), for
teams that cannot run guardia's rules yet.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guardia.checks.config import Check, load_checks
from guardia.checks.result import Outcome, Status
from guardia.checks.service import CheckService
from guardia.client.alerts import build_alert
from guardia.contrib.django.settings import background, base_labels, guardia_settings

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
        "!=": operator.ne}


def state_of(check: Check, o: Outcome) -> Status:
    """The check's own state, raised to WARNING/CRITICAL by a crossed threshold (as the team's
    cron job judged it); a failed run is UNKNOWN."""
    if not o.ok:
        return Status.UNKNOWN
    state = o.status
    for severity, t in check.thresholds.items():
        if any(_OPS[t.op](v, t.value) for _, v in o.rows):
            state = max(state, Status.CRITICAL if severity == "critical" else Status.WARNING)
    return state


def _line(name: str, state: Status, o: Outcome) -> str:
    values = ", ".join(f"{dict(lb) or ''}{'=' if lb else ''}{v:g}" for lb, v in o.rows)
    word = state.name if o.ok else "FAILED"
    return f"{name} {word} {values} - {o.message}".rstrip(" -")


def _threshold_alerts(check: Check, o: Outcome) -> list[dict[str, Any]]:
    alerts = []
    for severity, t in check.thresholds.items():
        for row, v in o.rows:
            crossed = _OPS[t.op](v, t.value)
            labels = {**base_labels(), **check.labels, **dict(row), "check": check.name}
            alerts.append(build_alert(check.name, labels=labels, severity=severity, resolved=not crossed,
                                      summary=f"check {check.name}: {v:g} {t}"))
    return alerts


class Command(BaseCommand):
    help = "Run guardia's checks (from guardia.yml) once and print their results."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--config", help="the guardia.yml (default: settings.GUARDIA['CONFIG'])")
        parser.add_argument("--check", action="append", default=[], help="only this check (repeatable)")
        parser.add_argument("--push", action="store_true", help="fire/resolve threshold alerts via guardia")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = opts.get("config") or guardia_settings().get("CONFIG")
        if not path:
            raise CommandError("no guardia.yml: pass --config or set GUARDIA['CONFIG']")
        svc = CheckService(None)
        try:
            svc.load(load_checks(str(path)))
        except Exception as e:
            raise CommandError(str(e)) from None
        names = opts.get("check") or list(svc.checks)
        unknown = [n for n in names if n not in svc.checks]
        if unknown:
            raise CommandError(f"no check named {unknown[0]!r}; checks: {', '.join(sorted(svc.checks))}")

        async def run() -> dict[str, Outcome]:
            return dict(zip(names, await asyncio.gather(*(svc.run_once(n) for n in names)), strict=True))

        results = asyncio.run(run())
        worst = Status.OK
        for name, o in results.items():
            state = state_of(svc.checks[name], o)
            self.stdout.write(_line(name, state, o))
            worst = max(worst, state)
            if opts.get("push"):
                alerts = _threshold_alerts(svc.checks[name], o)
                if alerts:
                    background().submit(alerts)
        if opts.get("push") and not background().join(30):
            self.stderr.write("guardia: not every alert was sent within 30s (they are spooled)")
        if worst is not Status.OK:
            raise SystemExit(int(worst))
