"""Fixtures shared by the tests that run real engines (VictoriaMetrics, Prometheus, guardia)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.storage.remote.peers import Proc


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """The processes a test started, stopped newest first whatever the test's outcome."""
    made: list[Proc] = []
    yield made
    for p in reversed(made):
        p.stop()
