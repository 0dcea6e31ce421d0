"""Sending alerts to guardia (or any Alertmanager) with retries, spooling what cannot be sent.

Every send first delivers what is already spooled (oldest first), then the new alerts; a
connection error or a 5xx/429 is retried with exponential backoff, and after the last try the
alerts go to the spool instead of being lost.  A 4xx other than 429 is the caller's mistake
(bad labels): it is raised, not spooled, since sending it again would fail again.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from guardia.client.spool import Spool

DEFAULT_URL = "http://127.0.0.1:9090"


class AlertRejected(ValueError):
    """The server refused the alerts (HTTP 4xx): fix the alert, sending it again will not help."""


class Unreachable(OSError):
    """Every try failed; the alerts are in the spool."""


def _url() -> str:
    return os.environ.get("GUARDIA_URL") or DEFAULT_URL


@dataclass
class Sender:
    """Where and how to send: ``url`` is guardia's (or an Alertmanager's) base URL."""

    url: str = field(default_factory=_url)
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    spool: Spool = field(default_factory=Spool)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/api/v2/alerts"

    def _verdict(self, r: httpx.Response) -> bool:
        """True when delivered; False when worth retrying; raises when refused for good."""
        if r.status_code < 300:
            return True
        if r.status_code == 429 or r.status_code >= 500:
            return False
        raise AlertRejected(f"{self.endpoint} refused the alerts: HTTP {r.status_code}: {r.text[:300]}")

    def _spooled(self, alerts: list[dict[str, Any]]) -> Unreachable:
        self.spool.put(alerts)
        return Unreachable(f"{self.endpoint} is unreachable; the alerts are spooled in {self.spool.dir}")

    # -- sync ----------------------------------------------------------------------------------

    def _try(self, client: httpx.Client, alerts: list[dict[str, Any]]) -> bool:
        for attempt in range(self.retries):
            try:
                if self._verdict(client.post(self.endpoint, json=alerts, headers=self.headers)):
                    return True
            except httpx.TransportError:
                pass
            if attempt + 1 < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        return False

    def send(self, alerts: list[dict[str, Any]]) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            if not self._drain(client) or not self._try(client, alerts):
                raise self._spooled(alerts)

    def _drain(self, client: httpx.Client) -> bool:
        for path in self.spool.files():
            batch = self.spool.read(path)
            if batch is None:
                continue
            try:
                ok = self._try(client, batch)
            except AlertRejected:
                ok = True  # it will never be accepted: drop it rather than block the spool
            if not ok:
                return False
            path.unlink(missing_ok=True)
        return True

    def flush(self) -> int:
        """Send what the spool holds; returns how many batches are left."""
        with httpx.Client(timeout=self.timeout_s) as client:
            self._drain(client)
        return len(self.spool.files())

    # -- async ---------------------------------------------------------------------------------

    async def _atry(self, client: httpx.AsyncClient, alerts: list[dict[str, Any]]) -> bool:
        for attempt in range(self.retries):
            try:
                if self._verdict(await client.post(self.endpoint, json=alerts, headers=self.headers)):
                    return True
            except httpx.TransportError:
                pass
            if attempt + 1 < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        return False

    async def _adrain(self, client: httpx.AsyncClient) -> bool:
        for path in self.spool.files():
            batch = self.spool.read(path)
            if batch is None:
                continue
            try:
                ok = await self._atry(client, batch)
            except AlertRejected:
                ok = True
            if not ok:
                return False
            path.unlink(missing_ok=True)
        return True

    async def asend(self, alerts: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            if not await self._adrain(client) or not await self._atry(client, alerts):
                raise self._spooled(alerts)
