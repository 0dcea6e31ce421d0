"""Telling a status page's subscribers: a JSON webhook or an email per incident or maintenance change.

Deliveries run as background tasks with a few retries; a subscriber that cannot be reached is
logged, never allowed to hold up the probes or the page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from email.message import EmailMessage
from typing import Any

import httpx

from guardia.probes.config import StatusPageSpec
from guardia.probes.status import Incident, Maintenance, StatusStore, Subscriber

log = logging.getLogger("guardia.status")

RETRIES = 3


class SubscriberNotifier:
    """A ``StatusStore`` listener; ``pages()`` gives the current page specs (hot reload)."""

    def __init__(self, store: StatusStore, pages: Callable[[], tuple[StatusPageSpec, ...]],
                 external_url: str = "") -> None:
        self.store = store
        self.pages = pages
        self.external_url = external_url.rstrip("/")
        self.tasks: set[asyncio.Task[None]] = set()
        store.listeners.append(self)

    def __call__(self, page: str, obj: Incident | Maintenance, what: str) -> None:
        spec = next((p for p in self.pages() if p.slug == page), None)
        if spec is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a command-line edit): nothing to deliver from here
        for sub in self.store.page_subscribers(page):
            task = loop.create_task(self._deliver(spec, sub, obj, what))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def payload(self, spec: StatusPageSpec, obj: Incident | Maintenance, what: str) -> dict[str, Any]:
        kind = "incident" if isinstance(obj, Incident) else "maintenance"
        return {"page": spec.slug, "pageTitle": spec.title, "url": f"{self.external_url}/status/{spec.slug}",
                "event": f"{kind}.{what}", kind: asdict(obj)}

    async def _deliver(self, spec: StatusPageSpec, sub: Subscriber, obj: Incident | Maintenance,
                       what: str) -> None:
        body = self.payload(spec, obj, what)
        for attempt in range(RETRIES):
            try:
                if sub.kind == "webhook":
                    async with httpx.AsyncClient(timeout=10) as client:
                        resp = await client.post(sub.address, json=body)
                    if resp.status_code < 300:
                        return
                    if 400 <= resp.status_code < 500 and resp.status_code != 429:
                        log.warning("event=subscriber_refused page=%s url=%s status=%d",
                                    spec.slug, sub.address, resp.status_code)
                        return
                else:
                    await self._email(spec, sub.address, obj, what)
                    return
            except Exception as e:
                log.warning("event=subscriber_failed page=%s kind=%s attempt=%d reason=%r",
                            spec.slug, sub.kind, attempt + 1, str(e))
            await asyncio.sleep(2**attempt)

    async def _email(self, spec: StatusPageSpec, to: str, obj: Incident | Maintenance, what: str) -> None:
        import aiosmtplib

        cfg = spec.email
        if cfg is None:
            return
        msg = EmailMessage()
        msg["From"], msg["To"] = cfg.sender, to
        title = obj.title
        msg["Subject"] = f"[{spec.title}] {title}: {what}"
        if isinstance(obj, Incident):
            text = "\n\n".join(f"{u.status}: {u.message}" for u in reversed(obj.updates))
        else:
            text = f"{obj.description}\n\nProbes: {', '.join(obj.probes)}"
        msg.set_content(f"{text}\n\n{self.external_url}/status/{spec.slug}\n")
        host, _, port = cfg.smarthost.rpartition(":")
        await aiosmtplib.send(msg, hostname=host, port=int(port), username=cfg.username or None,
                              password=cfg.password.reveal() if cfg.password else None,
                              start_tls=cfg.require_tls if int(port) != 465 else None,
                              use_tls=int(port) == 465, timeout=10)
