"""Read view over head and blocks: one series per label set, samples merged in order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher
from guardia.storage.interface import Querier, SelectHints, SeriesSet, check_selectable, hinted_range
from guardia.storage.tsdb.block import Block
from guardia.storage.tsdb.merge import Fragment, assemble
from guardia.storage.tsdb.source import SeriesSource, SourceCatalog

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TSDBQuerier(Querier):
    """Reads ``[mint, maxt]`` for one query.

    The blocks are fixed (and acquired) when the querier is made, so a query reads the
    same data from start to end even if compaction or retention replaces them meanwhile.
    The head is read live; if it is cut into a block while the querier is open, the new
    block is added, so what moved out of the head is not lost to the query.
    """

    def __init__(self, catalog: SourceCatalog, mint: int, maxt: int) -> None:
        self.mint = mint
        self.maxt = maxt
        self._catalog = catalog
        self._lock = catalog.read_lock
        with self._lock:
            self._cuts = catalog.head_cuts()
            self._sources = catalog.acquire_sources(mint, maxt, ())

    def _current(self) -> list[SeriesSource]:
        """The sources to read now (call with the lock held)."""
        cuts = self._catalog.head_cuts()
        if cuts != self._cuts:
            held = [s for s in self._sources if isinstance(s, Block)]
            covered = {u for b in held for u in b.sources}
            fresh = self._catalog.acquire_sources(self.mint, self.maxt, covered)
            blocks = sorted([*held, *(s for s in fresh if isinstance(s, Block))], key=lambda b: b.mint)
            self._sources = [*blocks, *(s for s in fresh if not isinstance(s, Block))]
            self._cuts = cuts
        return self._sources

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *, sort: bool = False
    ) -> SeriesSet:
        check_selectable(matchers)
        mint, maxt = hinted_range(self, hints)
        if hints is not None and hints.labels_only:
            found = SeriesSet.labels_only(self._labels(matchers, mint, maxt))
        else:
            with self._lock:
                labels, counts, ts, vs = self._assemble(matchers, mint, maxt)
            starts = np.zeros(len(labels) + 1, dtype=np.int64)
            if labels:
                np.cumsum(counts, out=starts[1:])
                if not bool(counts.all()):  # series without samples in range are left out
                    nz = np.nonzero(counts)[0]
                    labels = [labels[i] for i in nz.tolist()]
                    starts = np.concatenate(([0], starts[1:][nz]))
            found = SeriesSet(labels, ts, vs, starts)
        return found.in_label_order() if sort else found

    def _assemble(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> tuple[list[Labels], I64, I64, F64]:
        """Label sets of the matching series and their samples, flat (series after series)."""
        found = [(src, src.select_ids(matchers, mint, maxt)) for src in self._current()]
        hits = [(src, ids) for src, ids in found if ids.size]
        labels: list[Labels] = []
        frags: list[Fragment] = []
        if len(hits) == 1:
            # One source (a query inside the head or inside one block): its series are
            # the query's, in its order; no label-set dictionary needed.
            src, ids = hits[0]
            labels = src.labels_of(ids)
            frags = src.fragments(ids, mint, maxt)
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
                for f in src.fragments(ids, mint, maxt):
                    f.qidx = remap[f.qidx]
                    frags.append(f)
        if not labels:
            return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        counts, ts, vs = assemble(len(labels), frags, mint, maxt)
        return labels, counts, ts, vs

    def _labels(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        seen: dict[Labels, None] = {}
        with self._lock:
            for src in self._current():
                ids = src.select_ids(matchers, mint, maxt)
                if ids.size:
                    seen.update(dict.fromkeys(src.labels_of(ids)))
        return list(seen)

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        with self._lock:
            for src in self._current():
                ids = src.select_ids(matchers, self.mint, self.maxt)
                names |= src.label_names(ids)
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values: set[str] = set()
        with self._lock:
            for src in self._current():
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
