"""Telling a status page's subscribers: a JSON webhook or an email per incident or maintenance change.

Deliveries run as background tasks with a few retries; a subscriber that cannot be reached is
logged, never allowed to hold up the probes or the page.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
from collections.abc import Callable
from dataclasses import asdict
from email.message import EmailMessage
from typing import Any

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
        store.confirmation_listeners.append(self.request_confirmation)

    def _spawn(self, coro: Any) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def link(self, spec: StatusPageSpec, what: str, sub: Subscriber) -> str:
        return f"{self.external_url}/status/{spec.slug}/{what}/{sub.token}"

    def request_confirmation(self, sub: Subscriber) -> None:
        """Mails the confirm link to a new email subscriber (double opt-in)."""
        spec = next((p for p in self.pages() if p.slug == sub.page), None)
        if spec is None or spec.email is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        msg = EmailMessage()
        msg["Subject"] = f"[{spec.title}] Confirm your subscription"
        msg.set_content(
            f"Somebody (we hope you) asked to hear about incidents and maintenance on {spec.title}.\n\n"
            f"Confirm with this link:\n{self.link(spec, 'confirm', sub)}\n\n"
            "If it was not you, ignore this message: nothing will be sent to you.\n")
        self._spawn(self._send_with_retries(spec, sub, msg))

    def __call__(self, page: str, obj: Incident | Maintenance, what: str) -> None:
        spec = next((p for p in self.pages() if p.slug == page), None)
        if spec is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a command-line edit): nothing to deliver from here
        for sub in self.store.page_subscribers(page):
            self._spawn(self._deliver(spec, sub, obj, what))

    def payload(self, spec: StatusPageSpec, obj: Incident | Maintenance, what: str) -> dict[str, Any]:
        kind = "incident" if isinstance(obj, Incident) else "maintenance"
        return {"page": spec.slug, "pageTitle": spec.title, "url": f"{self.external_url}/status/{spec.slug}",
                "event": f"{kind}.{what}", kind: asdict(obj)}

    async def _deliver(self, spec: StatusPageSpec, sub: Subscriber, obj: Incident | Maintenance,
                       what: str) -> None:
        if sub.kind == "email":
            await self._send_with_retries(spec, sub, self._email(spec, sub, obj, what))
            return
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        body = {**self.payload(spec, obj, what), "unsubscribe": self.link(spec, "unsubscribe", sub)}
        for attempt in range(RETRIES):
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    resp = await client.post(sub.address, json=body)
                if resp.status_code < 300:
                    return
                if 400 <= resp.status_code < 500 and resp.status_code != 429:
                    log.warning("event=subscriber_refused page=%s url=%s status=%d",
                                spec.slug, sub.address, resp.status_code)
                    return
            except Exception as e:
                log.warning("event=subscriber_failed page=%s kind=%s attempt=%d reason=%r",
                            spec.slug, sub.kind, attempt + 1, str(e))
            await asyncio.sleep(2**attempt)

    def _email(self, spec: StatusPageSpec, sub: Subscriber, obj: Incident | Maintenance,
               what: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[{spec.title}] {obj.title}: {what}"
        if isinstance(obj, Incident):
            text = "\n\n".join(f"{u.status}: {u.message}" for u in reversed(obj.updates))
        else:
            text = f"{obj.description}\n\nProbes: {', '.join(obj.probes)}"
        unsubscribe = self.link(spec, "unsubscribe", sub)
        # RFC 2369 and RFC 8058: mail clients show their own one-click "unsubscribe" button
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(f"{text}\n\n{self.external_url}/status/{spec.slug}\n\n"
                        f"To stop these messages: {unsubscribe}\n")
        return msg

    async def _send_with_retries(self, spec: StatusPageSpec, sub: Subscriber, msg: EmailMessage) -> None:
        for attempt in range(RETRIES):
            try:
                await self._smtp(spec, sub.address, msg)
                return
            except Exception as e:
                log.warning("event=subscriber_failed page=%s kind=email attempt=%d reason=%r",
                            spec.slug, attempt + 1, str(e))
            await asyncio.sleep(2**attempt)

    async def _smtp(self, spec: StatusPageSpec, to: str, msg: EmailMessage) -> None:
        import aiosmtplib

        cfg = spec.email
        if cfg is None:
            return
        msg["From"], msg["To"] = cfg.sender, to
        host, _, port = cfg.smarthost.rpartition(":")
        # flattened here: aiosmtplib's own flattening folds at 78 columns and MIME-encodes a long
        # List-Unsubscribe URL, which mail clients then cannot read
        raw = msg.as_bytes(policy=email.policy.SMTP.clone(max_line_length=998))
        await aiosmtplib.send(raw, sender=cfg.sender, recipients=[to], hostname=host, port=int(port),
                              username=cfg.username or None,
                              password=cfg.password.reveal() if cfg.password else None,
                              start_tls=cfg.require_tls if int(port) != 465 else None,
                              use_tls=int(port) == 465, timeout=10)
