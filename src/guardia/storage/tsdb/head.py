"""The head: recent samples of every active series, in memory.

Layout, and why it is fast and small:

* Series refs are dense integers, so per-series state lives in numpy arrays indexed by
  ref: the newest timestamp and value bits (order and duplicate checks) and the oldest
  timestamp (time-bounded label queries).
* Time is cut into aligned *windows* (``block_range / 30``: 4 minutes for 2 h blocks).
  Samples of the current window sit uncompressed in a window buffer: a matrix of
  ``chunk_slots`` (timestamp, value) slots per series, the timestamp a 2-byte code of
  the window's distinct times (``Window``).  Appending a scrape — many refs, one
  timestamp — is a handful of fancy-indexed numpy writes.
* Once every target has moved past a window, the whole window is compressed at once: all
  series, in label order, in *frames* of ``page_rows`` series (``chunks.encode_page``).
  Because frames follow label order, the series of one metric sit in a few frames, so a
  query decodes a few frames per window no matter how many targets expose the metric.
  Inside such a page, rows are compressed in zstd frames of at most 16 rows, so a query
  that wants a few rows of it (one instance of a big job) inflates little of it.
* Compressed windows are merged into longer spans (``HeadCompress.merge_spans``): the
  ten windows of an aligned 40-minute range into one span once the range is complete,
  and meanwhile the first five into a 20-minute span.  Longer rows compress better, and
  a query pays per page it visits (a few microseconds of Python and a zstd frame): the
  newest, still open 40 minutes are read from at most 5 spans, not up to 9.
* A series that fills its slots before the window ends (scraped faster than every
  ``window / chunk_slots``) spills the full rows into a compressed page of the window;
  spills are folded into the window's frames when it is compressed.
* Out-of-order samples accepted within the configured window live in a small per-series
  side buffer; they are rare and merged at read time.

The head's code is split by concern: see ``Head``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from guardia.model import Labels, Matcher
from guardia.storage.tsdb.head_layout import I64, Window, release_free_memory
from guardia.storage.tsdb.head_wal import HeadWAL

__all__ = ["FrozenHead", "Head", "release_free_memory"]


class Head(HeadWAL):
    """In-memory recent data; not thread-safe (the database serialises access).

    One object, its methods grouped by concern as Prometheus groups head.go's: series
    (``head_series``), appending (``head_append``), reading (``head_read``), window
    compression (``head_compress``), truncation (``head_truncate``) and the WAL
    (``head_wal``).
    """

    def frozen_before(self, end: int) -> FrozenHead:
        """A read-only view of the samples older than ``end``, safe to read without the lock.

        Callers first raise ``min_valid_t`` to ``end`` so nothing new lands there; spans are
        immutable once made and the view keeps its own lists, so appends, window
        compression and queries can go on while a block is written from the view.
        """
        return FrozenHead(self, end)


class FrozenHead(Head):
    """See ``Head.frozen_before``: spans, late windows and out-of-order samples below a time."""

    def __init__(self, head: Head, end: int) -> None:
        n = head.num_series
        self.options = head.options
        self.S, self.W, self.grace, self.quiet = head.S, head.W, head.grace, head.quiet
        self._compressed_upto = head._compressed_upto
        self.spans = [sp for sp in head.spans if sp.mint < end]
        self.windows = {
            wid: Window(w.wid, w.base, w.ts.copy(), w.vs.copy(), w.n.copy(), list(w.spills),
                        times=None if w.times is None else w.times.copy())
            for wid, w in head.windows.items()
            if w.base < end
        }
        self.ooo = {r: {t: v for t, v in buf.items() if t < end} for r, buf in head.ooo.items()}
        self.index = head.index  # append-only: the first ``n`` series never change
        self._first = head.first_t[:n].copy()
        self._n = n

    @property
    def num_series(self) -> int:
        return self._n

    def select_ids(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        if matchers:
            raise ValueError("a frozen head view only lists all its series")
        return np.nonzero(self._first <= maxt)[0].astype(np.int64)

    def labels_of(self, ids: I64) -> list[Labels]:
        if ids.size and int(ids.max()) >= self._n:
            raise IndexError("series created after the view was taken")
        return self.index.labels_of(ids)
