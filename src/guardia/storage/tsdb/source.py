"""What reading needs from the places data sits in, and from the database that lists them.

``SeriesSource`` is implemented by the head and by each block: the querier reads through
it, and compaction writes any set of sources into a block through it.  ``SourceCatalog``
is what a querier asks the database for (its lock, and the sources over a range), so the
querier knows nothing of the database and the database, the querier and compaction
import each other in one direction only: db → querier, compact → source.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.storage.tsdb.index import MemIndex
from guardia.storage.tsdb.merge import Fragment

I64 = npt.NDArray[np.int64]


class SeriesSource(Protocol):
    """Series and their samples in one place (the head, a block, a frozen view)."""

    mint: int
    maxt: int

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64: ...

    def labels_of(self, ids: I64) -> list[Labels]: ...

    def fragments(self, ids: I64, mint: int, maxt: int) -> list[Fragment]: ...

    def label_names(self, ids: I64 | None) -> set[str]: ...

    def label_values(self, name: str, ids: I64 | None) -> set[str]: ...


class IndexedSource:
    """The label half of a ``SeriesSource`` whose series ids are ids in a ``MemIndex``
    (the head and blocks both keep one)."""

    index: MemIndex

    def labels_of(self, ids: I64) -> list[Labels]:
        return self.index.labels_of(ids)

    def label_names(self, ids: I64 | None) -> set[str]:
        return self.index.label_names(ids)

    def label_values(self, name: str, ids: I64 | None) -> set[str]:
        return self.index.label_values(name, ids)


class SourceCatalog(Protocol):
    """The database as a querier sees it."""

    @property
    def read_lock(self) -> threading.RLock:
        """Held while a source is read (appends and cuts change the head)."""
        ...

    def head_cuts(self) -> int:
        """How many times the head was cut into a block so far.

        A querier that sees this change re-lists blocks: the data it would have read from
        the head is in a block now.
        """
        ...

    def acquire_sources(self, mint: int, maxt: int, covered: Collection[str]) -> list[SeriesSource]:
        """Blocks overlapping ``[mint, maxt]``, oldest first, then the head.

        Blocks all of whose sources are in ``covered`` (ULIDs) are left out: their data is
        in blocks the caller holds already.  The blocks are acquired: compaction and
        retention close them only once the caller releases them.
        """
        ...
