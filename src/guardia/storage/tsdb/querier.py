"""Read view over head and blocks: one ``Series`` per label set, samples merged in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.storage.interface import Series, SeriesSet, check_selectable
from guardia.storage.tsdb.block import Block
from guardia.storage.tsdb.merge import Fragment, assemble

if TYPE_CHECKING:
    from guardia.storage.tsdb.db import TSDB

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class SeriesSource(Protocol):
    """What the querier needs from the head and from a block."""

    mint: int
    maxt: int

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64: ...

    def labels_of(self, ids: I64) -> list[Labels]: ...

    def fragments(self, ids: I64, mint: int, maxt: int) -> list[Fragment]: ...

    def label_names(self, ids: I64 | None) -> set[str]: ...

    def label_values(self, name: str, ids: I64 | None) -> set[str]: ...


class TSDBQuerier:
    """Reads ``[mint, maxt]``; sources are fixed when the querier is made."""

    def __init__(self, db: TSDB, mint: int, maxt: int) -> None:
        self.mint = mint
        self.maxt = maxt
        self._db = db
        self._sources = db._sources_for(mint, maxt)

    def select(self, matchers: Sequence[Matcher], *, sort: bool = False) -> list[Series]:
        check_selectable(matchers)
        with self._db._lock:
            labels, counts, ts, vs = self._assemble(matchers)
        nz = np.nonzero(counts)[0]
        width = int(counts[nz[0]]) if nz.size else 0
        if nz.size and bool((counts[nz] == width).all()):
            # Equal series (the usual dashboard case): rows of a matrix are cheaper views
            # than slices of a flat array.
            shape = (nz.shape[0], width)
            out = [
                Series(labels[i], t, v)
                for i, t, v in zip(nz.tolist(), ts.reshape(shape), vs.reshape(shape), strict=True)
            ]
        else:
            ends = np.cumsum(counts[nz]).tolist()
            starts = [0, *ends[:-1]] if ends else []
            out = [
                Series(labels[i], ts[a:b], vs[a:b])
                for i, a, b in zip(nz.tolist(), starts, ends, strict=True)
            ]
        if sort:
            out.sort(key=lambda s: s.labels)
        return out

    def select_flat(self, matchers: Sequence[Matcher]) -> SeriesSet:
        check_selectable(matchers)
        with self._db._lock:
            labels, counts, ts, vs = self._assemble(matchers)
        starts = np.zeros(len(labels) + 1, dtype=np.int64)
        if labels:
            np.cumsum(counts, out=starts[1:])
            if not bool(counts.all()):  # series without samples in range are left out
                nz = np.nonzero(counts)[0]
                labels = [labels[i] for i in nz.tolist()]
                starts = np.concatenate(([0], starts[1:][nz]))
        return SeriesSet(labels, ts, vs, starts)

    def _assemble(self, matchers: Sequence[Matcher]) -> tuple[list[Labels], I64, I64, F64]:
        """Label sets of the matching series and their samples, flat (series after series)."""
        found = [(src, src.select_ids(matchers, self.mint, self.maxt)) for src in self._sources]
        hits = [(src, ids) for src, ids in found if ids.size]
        labels: list[Labels] = []
        frags: list[Fragment] = []
        if len(hits) == 1:
            # One source (a query inside the head or inside one block): its series are
            # the query's, in its order; no label-set dictionary needed.
            src, ids = hits[0]
            labels = src.labels_of(ids)
            frags = src.fragments(ids, self.mint, self.maxt)
        else:
            keys: dict[Labels, int] = {}
            for src, ids in hits:
                lbs = src.labels_of(ids)
                remap = np.empty(len(lbs), dtype=np.int64)
                for i, lb in enumerate(lbs):
                    q = keys.get(lb)
                    if q is None:
                        q = keys[lb] = len(labels)
                        labels.append(lb)
                    remap[i] = q
                for f in src.fragments(ids, self.mint, self.maxt):
                    f.qidx = remap[f.qidx]
                    frags.append(f)
        if not labels:
            return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        counts, ts, vs = assemble(len(labels), frags, self.mint, self.maxt)
        return labels, counts, ts, vs

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        check_selectable(matchers)
        seen: dict[Labels, None] = {}
        with self._db._lock:
            for src in self._sources:
                ids = src.select_ids(matchers, self.mint, self.maxt)
                if ids.size:
                    seen.update(dict.fromkeys(src.labels_of(ids)))
        return list(seen)

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        with self._db._lock:
            for src in self._sources:
                ids = src.select_ids(matchers, self.mint, self.maxt)
                names |= src.label_names(ids)
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values: set[str] = set()
        with self._db._lock:
            for src in self._sources:
                ids = src.select_ids(matchers, self.mint, self.maxt)
                values |= src.label_values(name, ids)
        values.discard("")
        return sorted(values)

    def close(self) -> None:
        """Release the blocks: one compacted or deleted meanwhile is closed now."""
        sources, self._sources = getattr(self, "_sources", []), []
        for src in sources:
            if isinstance(src, Block):
                src.release()

    def __del__(self) -> None:
        # A querier dropped without close() must not keep deleted blocks open for good.
        self.close()
