"""A target's series texts and the refs they resolved to, kept compactly.

``Ingester`` remembers, for every line a target ever exposed, the part before the value (the
*series text*) and its storage ref.  A ``dict[str, int]`` costs about 180 bytes per series
(a str object of 49 bytes plus the text, a dict slot, an int object): 17 MiB at 100,000
series, for text that is mostly the same few metric and label names.

Here four flat arrays, sorted by the texts' hash, hold each text's hash, ref, and start and
length in the target's texts joined into one str; that str is kept zlib-compressed (the texts
of a 2,000-series target, 150 KB, compress to 8 KB): about 32 bytes per series in all.  A
look-up bisects the hashes and then compares the text itself at its place in the joined str,
so a hit is exact (texts with the same hash are all kept and compared), never a guess from
the hash.  The joined str is decompressed on the first look-up that needs it (0.3 ms for
2,000 series) and dropped again by ``settle``, which ``Ingester`` calls after each scrape that
went the line-by-line way; a scrape that repeats the last one's series lines (``fastpath``)
does not look here at all.  Texts added since the last ``settle`` wait in a small dict, and
``settle`` merges them (once per scrape that brought new series).

Only ``get_many`` (a whole scrape's look-ups at once) and, when asked, ``settle``'s merge use
numpy, and an agent's numpy-free ``Ingester`` never calls the one nor asks for the other: the
rest works on the arrays as they are.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_left
from collections.abc import ItemsView, Iterable, KeysView, Sequence, ValuesView
from itertools import accumulate
from operator import add
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_hash = hash  # a name the tests can point at a colliding function


class SeriesCache:
    """series text → ref (or a negative marker), for one target; see the module docstring."""

    __slots__ = ("_hashes", "_lens", "_new", "_numpy", "_packed_text", "_plain", "_refs", "_starts",
                 "_text_len", "_view")

    def __init__(self, numpy: bool = False) -> None:
        # ``numpy``: merge with numpy (an argsort and four gathers: 0.3 against 1.3 ms for a
        # first scrape's 2,000 texts); an agent's numpy-free Ingester leaves it off
        self._numpy = numpy
        self._packed_text = zlib.compress(b"")  # the joined texts, UTF-8, compressed
        self._plain: str | None = None  # the joined texts while a scrape looks them up
        self._view: dict[str, int] | None = None  # all of it as a dict, while a scrape needs that
        self._text_len = 0  # characters in the joined texts
        self._hashes: array[int] = array("q")  # sorted
        self._refs: array[int] = array("q")
        self._starts: array[int] = array("q")  # where each text starts in _text
        self._lens: array[int] = array("I")
        self._new: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._hashes) + len(self._new)

    def clear(self) -> None:
        self._packed_text = zlib.compress(b"")
        self._plain = None
        self._view = None
        self._text_len = 0
        self._hashes = array("q")
        self._refs = array("q")
        self._starts = array("q")
        self._lens = array("I")
        self._new.clear()

    def __setitem__(self, key: str, ref: int) -> None:
        self._new[key] = ref
        if self._view is not None:
            self._view[key] = ref

    def update(self, keys: Sequence[str], refs: Sequence[int]) -> None:
        """``__setitem__`` of many (a scrape's new series texts and their refs)."""
        added = dict(zip(keys, refs, strict=True))
        self._new.update(added)
        if self._view is not None:
            self._view.update(added)

    def forget_view(self, keys: Iterable[str]) -> None:
        """Take ``keys`` out of the view, where a scrape put their placeholders while it
        read them (its new series, which could not be created)."""
        view = self._view
        if view is not None:
            for key in keys:
                view.pop(key, None)

    def get(self, key: str) -> int | None:
        return self.view().get(key)

    def __getitem__(self, key: str) -> int:
        return self.view()[key]

    def keys(self) -> KeysView[str]:
        return self.view().keys()

    def values(self) -> ValuesView[int]:
        return self.view().values()

    def items(self) -> ItemsView[str, int]:
        return self.view().items()

    def pop(self, key: str, default: int | None = None) -> int | None:
        """Forget ``key`` (a placeholder the scrape could not settle); its ref, or ``default``."""
        view = self.view()
        self._merge()  # what waits joins the table: the key is in the table if anywhere
        i = self._find(key)
        if i < 0:
            return default
        ref = view.pop(key)
        for a in (self._hashes, self._refs, self._starts, self._lens):
            del a[i]
        return ref  # its text stays in the joined str, unreferenced, until ``clear``

    def view(self) -> dict[str, int]:
        """Everything as a plain dict, for the line-by-line path: unpacked from the table on
        the first call after ``settle`` (0.3 ms for 2,000 series), kept current by
        ``__setitem__``, dropped again by ``settle``, so one target's worth exists at a time."""
        view = self._view
        if view is None:
            view = self._unpack()
        return view

    def _unpack(self) -> dict[str, int]:
        self._merge()
        text = self._text()
        starts = self._starts.tolist()
        ends = map(add, starts, self._lens)
        view = self._view = dict(zip(map(text.__getitem__, map(slice, starts, ends)), self._refs.tolist(),
                                     strict=True))
        return view

    def _find(self, key: str) -> int:
        """The table index of ``key`` (not the pending dict), or -1."""
        hs = self._hashes
        h = _hash(key)
        i = bisect_left(hs, h)
        n = len(hs)
        size = len(key)
        while i < n and hs[i] == h:
            if self._lens[i] == size and self._text().startswith(key, self._starts[i]):
                return i
            i += 1
        return -1

    def _text(self) -> str:
        plain = self._plain
        if plain is None:
            plain = self._plain = zlib.decompress(self._packed_text).decode("utf-8")
        return plain

    def get_many(self, keys: Sequence[str]) -> npt.NDArray[np.int64] | None:
        """The refs of all ``keys`` in order, or None when any is unknown."""
        import numpy as np

        self._merge()
        n = len(keys)
        if not self._hashes:
            return None if n else np.empty(0, dtype=np.int64)
        table = np.frombuffer(self._hashes, dtype=np.int64)
        h = np.fromiter(map(_hash, keys), dtype=np.int64, count=n)
        at = np.minimum(np.searchsorted(table, h), table.size - 1)
        if not bool((table[at] == h).all()):
            return None
        lens = np.frombuffer(self._lens, dtype=np.uint32)[at]
        starts = np.frombuffer(self._starts, dtype=np.int64)[at]
        if bool((lens == np.fromiter(map(len, keys), dtype=np.int64, count=n)).all()) and all(
            map(self._text().startswith, keys, starts.tolist())
        ):
            return np.frombuffer(self._refs, dtype=np.int64)[at].copy()
        # a hash shared by two texts (the first of them was compared): look each one up
        refs = [self.get(k) for k in keys]
        if None in refs:
            return None
        return np.array(refs, dtype=np.int64)

    def _merge_numpy(self, keys: list[str], refs: list[int], starts: list[int], lens: list[int]) -> None:
        """``_merge``'s new table, ordered with numpy: the same arrays."""
        import numpy as np

        hashes = np.concatenate((np.frombuffer(self._hashes, dtype=np.int64),
                                 np.fromiter(map(_hash, keys), dtype=np.int64, count=len(keys))))
        order = np.argsort(hashes, kind="stable")  # equal hashes keep their order

        def merged(old: array[int], added: list[int]) -> array[int]:
            dtype = np.dtype(old.typecode)
            both = np.concatenate((np.frombuffer(old, dtype=dtype), np.array(added, dtype=dtype)))
            return array(old.typecode, both[order].tobytes())

        self._refs = merged(self._refs, refs)
        self._starts = merged(self._starts, starts)
        self._lens = merged(self._lens, lens)
        self._hashes = array("q", hashes[order].tobytes())

    def settle(self) -> None:
        """Merge the texts added since the last call into the sorted arrays, and drop the
        decompressed joined texts until the next look-up."""
        self._merge()
        self._plain = None
        self._view = None

    def _merge(self) -> None:
        new = self._new
        if not new:
            return
        if self._hashes:  # a text already in the table takes its new value there (as a dict would)
            for key in list(new):
                i = self._find(key)
                if i >= 0:
                    self._refs[i] = new.pop(key)
            if not new:
                return
        keys = list(new)
        lens = list(map(len, keys))
        starts = list(accumulate(lens[:-1], initial=self._text_len))
        if self._numpy:
            self._merge_numpy(keys, list(new.values()), starts, lens)
        else:
            hashes = self._hashes + array("q", map(_hash, keys))
            order = sorted(range(len(hashes)), key=hashes.__getitem__)  # stable: equal hashes in order

            def merged(old: array[int], added: Sequence[int]) -> array[int]:
                both = old + array(old.typecode, added)
                return array(old.typecode, map(both.__getitem__, order))

            self._refs = merged(self._refs, list(new.values()))
            self._starts = merged(self._starts, starts)
            self._lens = merged(self._lens, lens)
            self._hashes = array("q", map(hashes.__getitem__, order))
        plain = self._plain = self._text() + "".join(keys)
        self._packed_text = zlib.compress(plain.encode("utf-8"), 1)
        self._text_len = len(plain)
        new.clear()
