"""Scraping: targets, the scrape loop, staleness, ``up`` and friends (the exposition parser and
the relabel engine are ``guardia.model.textparse`` and ``guardia.model.relabel``)."""

from guardia.scrape.ingest import Ingester, IngestOptions, ScrapeError
from guardia.scrape.manager import ScrapeManager
from guardia.scrape.target import DroppedTarget, Target

__all__ = [
    "DroppedTarget",
    "IngestOptions",
    "Ingester",
    "ScrapeError",
    "ScrapeManager",
    "Target",
]
