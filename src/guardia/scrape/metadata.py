"""Per-target metric metadata (HELP/TYPE/UNIT) as /api/v1/metadata and /targets/metadata show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from guardia.model import Labels

if TYPE_CHECKING:
    from guardia.scrape.loop import ScrapeLoop


@dataclass(frozen=True, slots=True)
class MetadataEntry:
    target: Labels
    metric: str
    type: str
    help: str
    unit: str

    def as_api(self) -> dict[str, object]:
        """One entry of /api/v1/targets/metadata."""
        return {"target": dict(self.target), "metric": self.metric, "type": self.type,
                "help": self.help, "unit": self.unit}


def target_metadata(loop: ScrapeLoop) -> list[MetadataEntry]:
    target = Labels(loop.ingester.target_labels)
    return [
        MetadataEntry(target, name, md.type, md.help, md.unit)
        for name, md in sorted(loop.ingester.metadata.items())
    ]


def metric_metadata(entries: list[MetadataEntry]) -> dict[str, list[dict[str, str]]]:
    """The /api/v1/metadata shape: metric → distinct {type, help, unit}."""
    out: dict[str, list[dict[str, str]]] = {}
    for e in entries:
        item = {"type": e.type, "help": e.help, "unit": e.unit}
        lst = out.setdefault(e.metric, [])
        if item not in lst:
            lst.append(item)
    return out
