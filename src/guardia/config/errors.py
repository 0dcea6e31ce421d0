"""Configuration problems, each pinned to a file, line, column and field path.

Most failures in the teams' systems are configs that look right and are not, so every
problem says where it is and what to do, and a loader collects all of them instead of
stopping at the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
PathPart = str | int
Path = tuple[PathPart, ...]


def format_path(path: Sequence[PathPart]) -> str:
    """``("route", "routes", 2, "receiver")`` → ``route.routes[2].receiver``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    severity: Severity = "error"

    def location(self) -> str:
        loc = self.file
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.location()}: {tag}{where}{self.message}"


class ConfigError(Exception):
    """One or more errors in configuration files; ``issues`` lists them all."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @classmethod
    def single(cls, file: str, message: str, *, line: int | None = None, path: str = "") -> ConfigError:
        return cls([ConfigIssue(file, line, None, path, message)])
