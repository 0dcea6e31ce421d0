"""Every benchmark still imports against the current code: a benchmark is run by hand, now and
then, so a renamed or removed name it uses would otherwise go unseen until someone needs the
figure (``scrape_protobuf`` imported a ``MetricFamily`` that had become ``message_class()``).
Importing runs nothing: each runs its measurement under ``if __name__ == "__main__"``."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted(p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py")
                    if p.stem != "__init__")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_imports(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    source = Path(module.__file__ or "").read_text()
    assert "__main__" in source or not hasattr(module, "main"), f"{name} runs on import"
