"""The ``/metrics`` answer: this process's registry, or every worker's files in multiprocess mode."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from guardia.instrument.workers import PerWorkerProcessCollector, mark_dead_workers


class Exposition:
    """Renders what a scrape should see; one per app, shared by the ASGI and Django paths."""

    def __init__(self, multiprocess_dir: Path | None, registry: CollectorRegistry = REGISTRY) -> None:
        self.dir = multiprocess_dir
        self.registry = registry
        self._mp_registry: CollectorRegistry | None = None
        if multiprocess_dir is not None:
            self._mp_registry = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(self._mp_registry, str(multiprocess_dir))  # type: ignore[no-untyped-call]
            self._mp_registry.register(PerWorkerProcessCollector(multiprocess_dir))

    def render(self, accept: str) -> tuple[bytes, str]:
        """(body, content type) for a scrape sending ``accept`` (OpenMetrics when asked)."""
        encoder, content_type = choose_encoder(accept)
        if self._mp_registry is not None and self.dir is not None:
            mark_dead_workers(self.dir)
            return encoder(self._mp_registry), content_type
        return encoder(self.registry), content_type
