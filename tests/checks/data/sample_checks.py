"""Check functions the tests load by module name, as a team's own checks.py would be."""

from __future__ import annotations

import threading
import time

import guardia.checks
from guardia.checks import CheckResult

RELEASE = threading.Event()


def rows(n: int = 3) -> int:
    return n


def by_status() -> dict[tuple[tuple[str, str], ...], float]:
    return {(("status", "pending"),): 7, (("status", "paid"),): 42}


def result() -> CheckResult:
    return CheckResult("warning", 51_000, "sessions growing", {"table": "django_session"})


def boom() -> int:
    raise RuntimeError("the database said no")


def hang() -> int:
    RELEASE.wait(30)
    return 1


def burn(seconds: float = 0.3) -> int:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return 1


def nothing() -> None:
    return None


@guardia.checks.check(interval="1h", critical="> 100000", warning="> 50000", for_="10m")
def session_table() -> int:
    return 60_000


@guardia.checks.check("payments_failed", labels={"team": "payments"})
async def failed_payments() -> dict[tuple[tuple[str, str], ...], float]:
    return {(("provider", "stripe"),): 2}
