"""Scraping: targets, exposition parsing, relabeling, staleness, ``up`` and friends."""

from guardia.scrape.ingest import Ingester, IngestOptions, ScrapeError
from guardia.scrape.manager import ScrapeManager
from guardia.scrape.parse import ParseError, parse
from guardia.scrape.target import DroppedTarget, Target

__all__ = [
    "DroppedTarget",
    "IngestOptions",
    "Ingester",
    "ParseError",
    "ScrapeError",
    "ScrapeManager",
    "Target",
    "parse",
]
