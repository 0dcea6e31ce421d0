"""Acknowledgements: someone has seen these alerts and is on it, so escalation stops.

An acknowledgement names alerts by matchers (``alertname=DiskFull``) or fingerprints; it
covers the alerts firing when it is made (their fingerprints are kept), records who, when
and why, and lasts until those alerts resolve.  Acknowledging does not silence: the receivers
already notified keep getting updates; only the escalation steps not yet reached are held.

Links in notifications carry a token (the fingerprint signed with a key kept in the data
folder), so whoever holds the notification can acknowledge that alert without other access.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardia.alerting.persist import read_json, write_atomic


class AckError(ValueError):
    """An acknowledgement that cannot be made; the message says why."""


@dataclass
class Ack:
    id: str
    fingerprints: frozenset[int]
    by: str
    comment: str
    at_ns: int
    matchers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "fingerprints": sorted(f"{f:016x}" for f in self.fingerprints), "by": self.by,
                "comment": self.comment, "at_ns": self.at_ns, "matchers": list(self.matchers)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Ack:
        fps = frozenset(int(f, 16) for f in d["fingerprints"])
        return cls(d["id"], fps, d["by"], d["comment"], d["at_ns"], tuple(d.get("matchers", ())))


@dataclass
class Acks:
    """Every acknowledgement in force, persisted with the escalation state (see ``escalate``)."""

    items: dict[str, Ack] = field(default_factory=dict)

    def add(self, fingerprints: Iterable[int], by: str, comment: str, now_ns: int,
            matchers: tuple[str, ...] = ()) -> Ack:
        fps = frozenset(fingerprints)
        if not by.strip():
            raise AckError("say who acknowledges (by): a name or an e-mail address")
        if not fps:
            raise AckError("no firing alert matches: nothing to acknowledge")
        ack = Ack(str(uuid.uuid4()), fps, by.strip(), comment.strip(), now_ns, matchers)
        self.items[ack.id] = ack
        return ack

    def of(self, fingerprint: int) -> Ack | None:
        """The most recent acknowledgement covering ``fingerprint``."""
        found = [a for a in self.items.values() if fingerprint in a.fingerprints]
        return max(found, key=lambda a: a.at_ns) if found else None

    def remove(self, ack_id: str) -> bool:
        return self.items.pop(ack_id, None) is not None

    def gc(self, firing: set[int]) -> bool:
        """Forget acknowledgements whose alerts all resolved; True when something went."""
        gone = [k for k, a in self.items.items() if not (a.fingerprints & firing)]
        for k in gone:
            del self.items[k]
        return bool(gone)


class LinkSigner:
    """Tokens for the acknowledge links in notifications: ``<fingerprint hex>.<hmac>``."""

    def __init__(self, key_file: Path | None) -> None:
        self.key = self._load(key_file)

    @staticmethod
    def _load(key_file: Path | None) -> bytes:
        if key_file is None:
            return secrets.token_bytes(32)
        try:
            return bytes.fromhex(key_file.read_text().strip())
        except (OSError, ValueError):
            key = secrets.token_bytes(32)
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key.hex())
            return key

    def token(self, fingerprint: int) -> str:
        fp = f"{fingerprint:016x}"
        return f"{fp}.{hmac.new(self.key, fp.encode(), hashlib.sha256).hexdigest()[:32]}"

    def verify(self, token: str) -> int:
        fp = token.partition(".")[0]
        good = self.token(int(fp, 16)) if len(fp) == 16 and all(c in "0123456789abcdef" for c in fp) else ""
        if not good or not hmac.compare_digest(good, token):
            raise AckError("this acknowledge link is not valid (it was not made by this guardia)")
        return int(fp, 16)


def load_acks(path: Path | None) -> Acks:
    data = read_json(path) if path is not None else None
    acks = Acks()
    for d in (data or {}).get("acks", []):
        a = Ack.from_json(d)
        acks.items[a.id] = a
    return acks


def save(path: Path | None, acks: Acks, escalations: dict[str, Any]) -> None:
    if path is not None:
        write_atomic(path, {"acks": [a.to_json() for a in acks.items.values()], "escalations": escalations,
                            "saved_at": time.time()})
