"""What every pipeline stage shares: the entry it works on, the stage interface, the config
error, and the helpers the stage modules use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from guardia.logs.errors import LogsError


class StageConfigError(LogsError):
    """A pipeline stage that cannot be built; the message names the stage and field."""


@dataclass(slots=True)
class Entry:
    ts: int
    line: str
    labels: dict[str, str]
    extracted: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)  # structured metadata of the line


class Stage:
    name = ""

    def process(self, e: Entry) -> bool:
        raise NotImplementedError


def to_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return str(v)


def fields_allowed(stage: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    extra = sorted(set(stage) - allowed)
    if extra:
        raise StageConfigError(f"{where}: unknown field {extra[0]!r}; allowed: {', '.join(sorted(allowed))}")


class LabelsStage(Stage):
    name = "labels"

    def __init__(self, mapping: Mapping[str, str | None]) -> None:
        self.mapping = [(k, v or k) for k, v in mapping.items()]

    def target(self, e: Entry) -> dict[str, str]:
        return e.labels

    def process(self, e: Entry) -> bool:
        out = self.target(e)
        for label, src in self.mapping:
            v = e.extracted.get(src)
            if v is not None and v != "":
                out[label] = to_str(v)
        return True
