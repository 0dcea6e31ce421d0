"""Shared helpers for the storage tests: open stores, read everything back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.interface import Querier
from guardia.storage.tsdb import TSDB, TSDBOptions

ALL = [Matcher("__name__", MatchType.REGEX, ".+")]


def dump(q: Querier) -> dict[Labels, list[tuple[int, int]]]:
    """Every series as (timestamp, value bits) pairs: bit-exact, NaN-safe comparison."""
    out = {}
    for s in q.select(ALL):
        out[s.labels] = list(zip(s.timestamps.tolist(), s.values.view(np.uint64).tolist(), strict=True))
    return out


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[object]:
    dbs: list[TSDB] = []

    def _open(options: TSDBOptions | None = None, path: Path | None = None) -> TSDB:
        db = TSDB.open(path or tmp_path / "data", options)
        dbs.append(db)
        return db

    yield _open
    for db in dbs:
        db.close()
