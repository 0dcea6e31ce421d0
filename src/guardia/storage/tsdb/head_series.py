"""The head's series: refs handed out by its index and the per-ref arrays they index."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.storage.tsdb.head_layout import I32, INT64_MAX, INT64_MIN, Span, Window, mapped_grow
from guardia.storage.tsdb.index import MemIndex
from guardia.storage.tsdb.options import TSDBOptions


class HeadSeries:
    """State of the head and its series; the other ``head_*`` modules add what is done with them."""

    def __init__(self, options: TSDBOptions) -> None:
        self.options = options
        self.index = MemIndex()
        self.S = options.chunk_slots
        self.W = max(1000, options.block_range_ms // 30)
        self.grace = max(self.W // 2, 1)
        self.quiet = max(self.W // 8, 1)  # see HeadCompress._due
        self._compressed_upto = -(1 << 62)  # highest window id compressed so far
        if not 1 <= self.S <= 255:
            raise ValueError("chunk_slots must be between 1 and 255")
        self._cap = 0
        self.last_t = np.zeros(0, dtype=np.int64)
        self.last_bits = np.zeros(0, dtype=np.uint64)
        self.first_t = np.zeros(0, dtype=np.int64)
        self.windows: dict[int, Window] = {}
        self.spans: list[Span] = []
        self.ooo: dict[int, dict[int, float]] = {}
        self.min_valid_t = INT64_MIN
        self.mint = INT64_MAX
        self.maxt = INT64_MIN
        self.ooo_window = options.out_of_order_time_window_ms
        self._mark = np.zeros(0, dtype=np.int32)
        self._mark_base = 1
        self._rank: I32 | None = None

    @property
    def num_series(self) -> int:
        return len(self.index)

    def ref_for(self, labels: Labels) -> tuple[int, bool]:
        """The ref of a label set, and whether it was created now."""
        ref, created = self.index.get_or_add(labels)
        if created:
            self._grow(ref + 1)
            self._rank = None
        return ref, created

    def refs_for(self, sets: list[Labels]) -> tuple[list[int], list[int]]:
        """``ref_for`` of many label sets: their refs, and the positions of those created
        now.  The per-series arrays grow once, before the index makes any new ref visible."""
        self._grow(self.num_series + len(sets))
        refs, added = self.index.get_or_add_many(sets)
        if added:
            self._rank = None
        return refs, added

    def _grow(self, n: int) -> None:
        if n <= self._cap:
            return
        # Grow by a quarter: these arrays are filled (resident) to capacity, and doubling
        # would leave up to half of them unused for good.
        cap = max(n, self._cap + self._cap // 4, 1024)

        def grow(a: npt.NDArray[np.generic], fill: int) -> npt.NDArray[np.generic]:
            b = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
            b[: a.shape[0]] = a
            return b

        self.last_t = grow(self.last_t, INT64_MIN)  # type: ignore[assignment]
        self.last_bits = grow(self.last_bits, 0)  # type: ignore[assignment]
        self.first_t = grow(self.first_t, INT64_MAX)  # type: ignore[assignment]
        for w in self.windows.values():
            w.ts = mapped_grow(w.ts, cap)
            w.vs = mapped_grow(w.vs, cap)
            w.n = grow(w.n, 0)  # type: ignore[assignment]
        self._cap = cap

    def _label_rank(self) -> I32:
        """Position of each ref in label order (cached until a series is added)."""
        if self._rank is None or self._rank.shape[0] != self.num_series:
            self._rank = self.index.layout_rank().astype(np.int32)
        return self._rank
