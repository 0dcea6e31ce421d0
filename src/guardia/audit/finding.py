"""The one result type of every audit check, and how findings are ordered and counted.

Severities follow pint's three levels: ``Information`` (worth knowing), ``Warning`` (probably
wrong), ``Bug`` (certainly broken: an alert that can never fire, a receiver that can never
deliver).  CI gates on them through the exit code (``exit_code``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    INFORMATION = 0
    WARNING = 1
    BUG = 2

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Severity:
        t = text.strip().lower()
        for s in cls:
            if s.name.lower() == t or (s.name.lower().startswith(t) and t):
                return s
        raise ValueError(f"unknown severity {text!r}: use information, warning or bug")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem.  ``rule`` is the rule's name when the finding is about a rule; ``arg``
    narrows what a disable comment may name (``promql/series(websocket_connections_active)``)."""

    check: str
    severity: Severity
    file: str
    line: int | None
    message: str
    rule: str = ""
    arg: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.label
        return d

    def location(self) -> str:
        if not self.file:
            return "(live)"
        return f"{self.file}:{self.line}" if self.line else self.file

    def sort_key(self) -> tuple[Any, ...]:
        return (self.file, self.line or 0, self.check, self.rule, self.message)


def exit_code(findings: list[Finding], fail_on: Severity = Severity.BUG) -> int:
    """0 when nothing at or above ``fail_on`` was found, 1 otherwise (2 is for usage errors)."""
    return 1 if any(f.severity >= fail_on for f in findings) else 0


def counts(findings: list[Finding]) -> dict[tuple[str, str], int]:
    """Findings per (check, severity), for ``guardia_audit_problems``."""
    out: dict[tuple[str, str], int] = {}
    for f in findings:
        key = (f.check, f.severity.label.lower())
        out[key] = out.get(key, 0) + 1
    return out
