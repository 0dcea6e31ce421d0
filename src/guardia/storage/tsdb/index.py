"""Series index: label set → series id, and postings (name=value → sorted ids).

Used by the head (ids are the storage's refs, handed out in increasing order so every
postings list stays sorted by construction) and by each block (ids are positions in the
block's label-sorted series table).  Matchers are resolved the way Prometheus does it:
matchers that need the label (``=`` non-empty, ``=~`` not matching "") intersect their
postings; the others subtract the postings of the values they exclude.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher, MatchType

IDs = npt.NDArray[np.int64]
_EMPTY: IDs = np.zeros(0, dtype=np.int64)


_TARGET_LABELS = ("instance", "job")
_ARRAY_CACHE = 4096  # postings lists kept as numpy arrays (bounded: labels can be many)
_ARRAY_CACHE_IDS = 1 << 20  # and at most 8 MiB of cached ids per index


def layout_key(labels: Labels) -> tuple[str, tuple[tuple[str, str], ...], tuple[str, str]]:
    """Storage order of series: metric name, other labels, then the target labels.

    Frames and block pages hold neighbours in this order.  A dashboard query usually
    fixes a metric and some labels and spans every target; with ``instance`` and ``job``
    compared last, those series are adjacent, so a query reads a few frames instead of a
    slice of every frame.
    """
    rest = tuple(p for p in labels if p[0] != "__name__" and p[0] not in _TARGET_LABELS)
    return (labels.get("__name__"), rest, (labels.get("instance"), labels.get("job")))


class LabelInterner:
    """Shares one string object per distinct label name/value and one tuple per pair.

    A busy head holds 100,000 label sets made of a few hundred distinct strings; sharing
    them is most of what keeps a series' index cost to a couple of hundred bytes.
    """

    __slots__ = ("_pairs", "_strings")

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        self._strings: dict[str, str] = {}

    def intern(self, labels: Labels) -> Labels:
        pairs = self._pairs
        out = []
        for p in labels:
            q = pairs.get(p)
            if q is None:
                strs = self._strings
                q = (strs.setdefault(p[0], p[0]), strs.setdefault(p[1], p[1]))
                pairs[q] = q
            out.append(q)
        return Labels.from_sorted(out)


class MemIndex:
    """An append-only index; ``add`` must be called with ids 0, 1, 2, ... in order."""

    def __init__(self) -> None:
        self.labels: list[Labels] = []
        self.by_labels: dict[Labels, int] = {}
        self._postings: dict[str, dict[str, array[int]]] = {}
        self._interner = LabelInterner()
        self._arrays: dict[tuple[str, str], IDs] = {}
        self._cached_ids = 0

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, labels: Labels) -> int | None:
        return self.by_labels.get(labels)

    def add(self, labels: Labels) -> int:
        labels = self._interner.intern(labels)
        sid = len(self.labels)
        self.labels.append(labels)
        self.by_labels[labels] = sid
        postings = self._postings
        for name, value in labels:
            byval = postings.get(name)
            if byval is None:
                byval = postings[name] = {}
            lst = byval.get(value)
            if lst is None:
                lst = byval[value] = array("i")
            lst.append(sid)
        return sid

    def add_all(self, labels: Iterable[Labels]) -> None:
        for lb in labels:
            self.add(lb)

    # --- reading -------------------------------------------------------------------------

    def all_ids(self) -> IDs:
        return np.arange(len(self.labels), dtype=np.int64)

    def _posting(self, name: str, value: str) -> IDs:
        lst = self._postings.get(name, {}).get(value)
        if lst is None:
            return _EMPTY
        return self._as_array(name, value, lst)

    def _as_array(self, name: str, value: str, lst: array[int]) -> IDs:
        """The postings list as int64, converted once per growth of the list.

        Lists only ever grow (ids are appended), so a cached array of the same length is
        still exact; dashboards repeat the same selectors every refresh.
        """
        key = (name, value)
        hit = self._arrays.get(key)
        if hit is not None and hit.shape[0] == len(lst):
            return hit
        arr = np.frombuffer(lst, dtype=np.int32).astype(np.int64)
        arr.flags.writeable = False
        if len(self._arrays) >= _ARRAY_CACHE or self._cached_ids + arr.shape[0] > _ARRAY_CACHE_IDS:
            self._arrays.clear()
            self._cached_ids = 0
        self._arrays[key] = arr
        self._cached_ids += arr.shape[0]
        return arr

    def _union(self, name: str, values: Iterable[str]) -> IDs:
        byval = self._postings.get(name, {})
        parts = [self._as_array(name, v, byval[v]) for v in values if v in byval]
        if not parts:
            return _EMPTY
        if len(parts) == 1:
            return parts[0]
        return np.unique(np.concatenate(parts))

    def _values_matching(self, m: Matcher, want: bool) -> list[str]:
        return [v for v in self._postings.get(m.name, {}) if m.matches(v) == want]

    def postings_for(self, matchers: Sequence[Matcher]) -> IDs:
        """Sorted ids of series matching every matcher."""
        include: list[IDs] = []
        exclude: list[IDs] = []
        for m in matchers:
            if not m.matches_empty:
                # The series must carry the label, with a value the matcher accepts.
                if m.type is MatchType.EQUAL:
                    include.append(self._posting(m.name, m.value))
                else:
                    include.append(self._union(m.name, self._values_matching(m, True)))
            else:
                # Series without the label match; subtract those whose value is refused.
                if m.type is MatchType.EQUAL:  # name="" : must not have the label
                    exclude.append(self._union(m.name, self._postings.get(m.name, {})))
                elif m.type is MatchType.NOT_EQUAL:
                    exclude.append(self._posting(m.name, m.value))
                else:
                    exclude.append(self._union(m.name, self._values_matching(m, False)))
        if include:
            include.sort(key=len)
            ids = include[0]
            for other in include[1:]:
                if not ids.size:
                    break
                ids = _intersect_sorted(ids, other)
        else:
            ids = self.all_ids()
        for ex in exclude:
            if ids.size and ex.size:
                ids = ids[~np.isin(ids, ex, assume_unique=True)]
        return ids

    def label_names(self, ids: IDs | None = None) -> set[str]:
        if ids is None:
            return {n for n, byval in self._postings.items() if byval}
        if ids.size * 4 < len(self._postings) * 64:
            names: set[str] = set()
            for i in ids.tolist():
                names.update(k for k, _ in self.labels[i])
            return names
        mask = np.zeros(len(self.labels), dtype=np.bool_)
        mask[ids] = True
        out = set()
        for name, byval in self._postings.items():
            for lst in byval.values():
                if mask[np.array(lst, dtype=np.int64)].any():
                    out.add(name)
                    break
        return out

    def label_values(self, name: str, ids: IDs | None = None) -> set[str]:
        byval = self._postings.get(name, {})
        if ids is None:
            return {v for v, lst in byval.items() if len(lst)}
        if ids.size < len(byval) * 8:
            out: set[str] = set()
            for i in ids.tolist():
                v = self.labels[i].get(name)
                if v:
                    out.add(v)
            return out
        mask = np.zeros(len(self.labels), dtype=np.bool_)
        mask[ids] = True
        return {v for v, lst in byval.items() if mask[np.array(lst, dtype=np.int64)].any()}

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for name, byval in self._postings.items():
            out.add(name)
            out.update(byval)
        return out


def _intersect_sorted(a: IDs, b: IDs) -> IDs:
    """Common ids of two sorted unique arrays: binary search of the smaller in the larger."""
    if a.shape[0] > b.shape[0]:
        a, b = b, a
    if not a.size or not b.size:
        return _EMPTY
    pos = np.searchsorted(b, a)
    pos[pos == b.shape[0]] = 0
    out: IDs = a[b[pos] == a]
    return out
