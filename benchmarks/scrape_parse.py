"""Steady-state parse-and-append rate of one scrape target.

A 2,000-line exposition (counters, gauges, 12-bucket histograms) is ingested repeatedly with
changing values, as consecutive scrapes of one target: each pass is the scrape loop's hot
path from the raw body (``Ingester.ingest_body``: a body repeating the last one's series lines
has only its values read) plus one ``append_batch`` and ``commit`` into the embedded TSDB (WAL
included).  Also printed: the rate into a null
appender (parsing alone) and the first, uncached scrape.  The last line is samples/s.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.exposition import make_exposition
from guardia.model import Labels
from guardia.scrape.ingest import Ingester, IngestOptions
from guardia.storage.interface import AppendStats

ROUNDS = int(os.environ.get("SCRAPE_PARSE_ROUNDS", "300"))


class NullAppender:
    """Accepts everything, keeps nothing: isolates the parse cost."""

    def __init__(self) -> None:
        self._refs: dict[Labels, int] = {}

    def ref(self, labels: Labels) -> int:
        return self._refs.setdefault(labels, len(self._refs))

    def append(self, ref: Any, t: int, v: float) -> None:
        pass

    def append_batch(self, refs: Sequence[int] | np.ndarray, t: int, values: Any) -> None:
        pass

    def commit(self) -> AppendStats:
        return AppendStats()

    def rollback(self) -> None:
        pass


def _run(app_factory: Any, texts: list[bytes]) -> tuple[float, float, int]:
    """(first scrape seconds, median steady-state scrape seconds, samples per scrape).

    The median of per-scrape times, not the mean: the machine is shared, and a scrape
    that lost the CPU to another process says nothing about the parser.
    """
    ing = Ingester([("instance", "app:8000"), ("job", "app")], IngestOptions())
    app = app_factory()
    t0 = time.perf_counter()
    first = ing.ingest_body(texts[0], False, app, 0)
    app.append_batch(first.refs, 0, first.values)
    app.commit()
    first_s = time.perf_counter() - t0
    times = []
    n = 0
    for i in range(1, ROUNDS + 1):
        t0 = time.perf_counter()
        app = app_factory()
        res = ing.ingest_body(texts[i % len(texts)], False, app, i * 15_000)
        app.append_batch(res.refs, i * 15_000, res.values)
        app.commit()
        times.append(time.perf_counter() - t0)
        n = int(res.refs.shape[0])
    return first_s, statistics.median(times), n


def main() -> None:
    texts = [make_exposition(2000, seed).encode() for seed in range(8)]
    lines = sum(1 for ln in texts[0].split(b"\n") if ln and not ln.startswith(b"#"))
    print(f"exposition: {lines} samples, {len(texts[0])} bytes; {ROUNDS} steady-state scrapes")
    null = NullAppender()
    first_s, secs, n = _run(lambda: null, texts)
    print(f"parse only (null appender): {n / secs:,.0f} samples/s ({secs * 1000:.2f} ms per scrape); "
          f"first (uncached) scrape {first_s * 1000:.1f} ms")
    try:
        from guardia.storage.tsdb import TSDB

        with tempfile.TemporaryDirectory() as d:
            db = TSDB.open(d)
            try:
                first_s, secs, n = _run(db.appender, texts)
            finally:
                db.close()
        where = "embedded TSDB (WAL included)"
    except ImportError:
        first_s, secs, n = _run(lambda: null, texts)
        where = "null appender (TSDB not available)"
    rate = n / secs
    print(f"parse + append_batch + commit into {where}: {rate:,.0f} samples/s "
          f"({secs * 1000:.2f} ms per scrape, median of {ROUNDS})")
    print(f"{rate:.0f}")


if __name__ == "__main__":
    main()
