"""Series index: label set → series id, and postings (name=value → sorted ids).

Used by the head (ids are the storage's refs, handed out in increasing order so every
postings list stays sorted by construction) and by each block (ids are positions in the
block's label-sorted series table).  Matchers are resolved the way Prometheus does it:
matchers that need the label (``=`` non-empty, ``=~`` not matching "") intersect their
postings; the others subtract the postings of the values they exclude.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.tsdb import idtable

IDs = npt.NDArray[np.int64]
_EMPTY: IDs = np.zeros(0, dtype=np.int64)


_TARGET_LABELS = ("instance", "job")
_ARRAY_CACHE = 4096  # postings lists kept as numpy arrays (bounded: labels can be many)
_ARRAY_CACHE_IDS = 1 << 20  # and at most 8 MiB of cached ids per index
_FEW = 256  # up to this many series are looked up one by one, more from a copy
# Label sets built for queries are kept for the next query of the same series (dashboards
# refresh the same panels); each costs ~100 B since its pairs are the index's shared tuples.
_BUILT_CAP = 32_768
# Up to this many possible (name, value) symbol codes, a block's pairs are numbered with a
# lookup table instead of a sort (at most 36 MiB of flags and ranks, freed at once).
_DENSE_PAIR_CODES = 1 << 22
# Pair ids are kept in 2 bytes each while there are at most this many pairs (a head of
# 100,000 series has ~5 pairs each: 1 MiB less than 4-byte ids), in 4 from then on.
_NARROW_PAIRS = 1 << 16
# From this many label sets on, ``get_or_add_many`` probes the table with numpy (``idtable``).
_PROBE_BATCH = 64


def _pid_array(pids: npt.NDArray[np.integer[Any]], npairs: int) -> array[int]:
    """Pair ids as the index keeps them: 2 bytes each while they fit."""
    if npairs <= _NARROW_PAIRS:
        return array("H", pids.astype(np.uint16).tobytes())
    return array("i", pids.astype(np.int32).tobytes())


def _pid_dtype(a: array[int]) -> type[np.uint16] | type[np.int32]:
    return np.uint16 if a.typecode == "H" else np.int32


def layout_key(labels: Labels) -> tuple[str, str, tuple[tuple[str, str], ...], str]:
    """Storage order of series: metric name, job, other labels, then instance.

    Frames and block pages hold neighbours in this order, and a query reads every page
    holding one of its series: the order decides how many it reads.  Dashboard queries fix
    a metric and a job (Grafana's ``$job``) and often some other labels, and span every
    instance: with ``job`` right after the name those series are one run per job, and with
    ``instance`` compared last the runs stay whole when other labels are fixed too.  The
    same labels across instances are also the most alike values, which compress best
    side by side.
    """
    rest = tuple(p for p in labels if p[0] != "__name__" and p[0] not in _TARGET_LABELS)
    return (labels.get("__name__"), labels.get("job"), rest, labels.get("instance"))


@dataclass(frozen=True, slots=True)
class PostingsStats:
    """Cardinality read off the postings, as Prometheus's ``/api/v1/status/tsdb`` lists it:
    each list is the top ``limit`` (name, count) by count, ties by name."""

    num_label_pairs: int
    series_count_by_metric_name: list[tuple[str, int]]
    label_value_count_by_label_name: list[tuple[str, int]]
    memory_in_bytes_by_label_name: list[tuple[str, int]]  # bytes of the distinct values
    series_count_by_label_value_pair: list[tuple[str, int]]


def _top(items: Iterable[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    return heapq.nsmallest(limit, items, key=lambda kv: (-kv[1], kv[0]))


class _PairIds(dict[tuple[str, str], int]):
    """(name, value) → pair id, with what each pair owns: its one shared tuple (strings
    interned), its postings list.  A pair looked up with ``[]`` and not there gets the next
    id (``__missing__``), so a batch's pairs are numbered by one C-level ``map`` in order of
    first appearance, a Python call only for the new ones."""

    __slots__ = ("pair_of", "plists", "postings", "strings")

    def __init__(self) -> None:
        super().__init__()
        self.pair_of: list[tuple[str, str]] = []
        self.strings: dict[str, str] = {}
        self.postings: dict[str, dict[str, array[int]]] = {}
        self.plists: list[array[int]] = []

    def __missing__(self, pair: tuple[str, str]) -> int:
        strs = self.strings
        name, value = pair
        q = (strs.setdefault(name, name), strs.setdefault(value, value))
        pid = self[q] = len(self.pair_of)
        self.pair_of.append(q)
        lst: array[int] = array("i")
        self.postings.setdefault(q[0], {})[q[1]] = lst
        self.plists.append(lst)
        return pid


class MemIndex:
    """An append-only index; ``add`` must be called with ids 0, 1, 2, ... in order.  Series
    garbage collection does not delete in place: ``compacted`` builds the next index.

    Memory is what matters here: a head holds every active series, and a Python object per
    series (a label tuple, a dict entry, an int) costs 100+ bytes each.  So the index keeps
    no object per series:

    * each distinct (name, value) pair gets a small integer id, once;
    * a series is its pair ids (a slice of one flat int32 array, delimited by offsets);
    * label set → id lookups go through an open-addressing table of series ids keyed by the
      label set's ``hash()`` (kept per series), confirmed by comparing pair ids;
    * postings are compact int32 arrays per pair.

    ``Labels`` objects are built only when a reader asks for series (``labels_of``).
    Readers never hold a buffer of the growing arrays (an exported buffer would make the
    next append fail): they index them or work on a copy, so a block being written from
    a frozen head view can read while appends go on.
    """

    def __init__(self) -> None:
        self._n = 0
        self._pairs = _PairIds()  # pair → pair id (``[]`` numbers a new pair)
        self._pair_of = self._pairs.pair_of  # pair id → the one shared tuple
        self._strings = self._pairs.strings
        self._set: array[int] = array("H")  # pair ids of all series, concatenated (see _NARROW_PAIRS)
        self._off: array[int] = array("I", [0])  # series i: _set[_off[i]:_off[i + 1]]
        self._hash: array[int] = array("q")  # hash() of each label set
        self._table: array[int] | None = None  # built on first lookup (blocks never look up)
        self._mask = 0
        self._postings = self._pairs.postings  # name → value → ids
        self._plists = self._pairs.plists  # pair id → the same postings lists
        self._arrays: dict[tuple[str, str], IDs] = {}
        self._cached_ids = 0
        self._built: dict[int, Labels] = {}  # id → label set built for a query (bounded)
        self._lazy_hash = False  # from_table: hashes computed on the first lookup

    def __len__(self) -> int:
        return self._n

    # --- series -----------------------------------------------------------------------

    def get(self, labels: Labels) -> int | None:
        pids = self._known_pids(labels)
        if pids is None:
            return None
        return self._find(labels, hash(labels), pids)

    def get_or_add(self, labels: Labels) -> tuple[int, bool]:
        """The id of a label set, and whether it was added now (one hash, one lookup)."""
        h = hash(labels)
        pids = self._known_pids(labels)
        if pids is not None:
            sid = self._find(labels, h, pids)
            if sid is not None:
                return sid, False
        return self._add(labels, h, pids), True

    def get_or_add_many(self, sets: Sequence[Labels]) -> tuple[list[int], list[int]]:
        """``get_or_add`` of many label sets (a scrape's new lines): the ids, and the
        positions in ``sets`` of those added now.  Sets equal to an earlier one of the same
        call get that one's id, as sequential calls would.

        A scrape's batch is mostly new series, so what can be done for all of them at once
        is: their hashes, lengths and pair ids are each one C-level ``map`` (pairs first
        seen here get their ids in order of appearance, as one at a time they would), a
        large batch probes the table, sized for all of them first, with numpy, and the pair
        ids, offsets and hashes of the added series are appended in one call each.  The
        new ids join their postings at the end, a pair's at once (readers see the new
        series together, once complete)."""
        n = first = self._n
        if not sets:
            return [], []
        if self._lazy_hash or self._table is None or 2 * (n + len(sets)) > len(self._table):
            self._rebuild_table(len(sets))
        hs = list(map(hash, sets))
        lens = list(map(len, sets))
        # pairs no series has yet are numbered in order of first appearance, as one at a time
        flat = list(map(self._pairs.__getitem__, chain.from_iterable(sets)))
        self._widen()
        starts = list(accumulate(lens, initial=0))
        if len(sets) < _PROBE_BATCH:
            ids, added = self._probe_each(hs, flat, starts)
        else:
            ids, added = self._probe_batch(sets, hs, flat, starts)
        n = first + len(added)
        pset, off, hashes = self._set, self._off, self._hash
        if n > first:
            if len(added) == len(sets):
                pset.fromlist(flat)  # fromlist: half the time of extend from a list
                hashes.fromlist(hs)
                new_lens = lens
            else:
                for i in added:
                    pset.fromlist(flat[starts[i] : starts[i + 1]])
                hashes.fromlist(list(map(hs.__getitem__, added)))
                new_lens = list(map(lens.__getitem__, added))
            off.fromlist(list(accumulate(new_lens, initial=off[-1]))[1:])
            self._post(first, n)
            self._n = n  # readers see the series only once they are complete
        return ids, added

    def _probe_each(self, hs: list[int], flat: list[int], starts: list[int]) -> tuple[list[int], list[int]]:
        """``get_or_add_many``'s ids and additions for a small batch: each set probed in
        turn, a new one's id put in the slot where its probe stopped."""
        tab, mask = self._table, self._mask
        assert tab is not None
        pset, off, hashes = self._set, self._off, self._hash
        n = first = self._n
        ids: list[int] = []
        added: list[int] = []
        for i, h in enumerate(hs):
            slot = h & mask
            sid = tab[slot]
            mine = flat[starts[i] : starts[i + 1]]
            while sid >= 0:
                if sid < first:  # an earlier call's series: its pair ids are in the arrays
                    if hashes[sid] == h and pset[off[sid] : off[sid + 1]].tolist() == mine:
                        break
                else:  # added by this call: its pair ids are still in ``flat``
                    j = added[sid - first]
                    if hs[j] == h and flat[starts[j] : starts[j + 1]] == mine:
                        break
                slot = (slot + 1) & mask
                sid = tab[slot]
            if sid < 0:
                sid = tab[slot] = n
                added.append(i)
                n += 1
            ids.append(sid)
        return ids, added

    def _probe_batch(self, sets: Sequence[Labels], hs: list[int], flat: list[int],
                     starts: list[int]) -> tuple[list[int], list[int]]:
        """``_probe_each`` for a large batch, with numpy (``idtable``): the series already
        known are found among the ids of the same hash on their probe paths; the others,
        but for repeats of one another in the batch, get the next ids in order and are
        placed in the table together."""
        tab, mask = self._table, self._mask
        assert tab is not None
        first = self._n
        harr = np.array(hs, dtype=np.int64)
        found = np.full(len(hs), -1, dtype=np.int64)
        if first:
            pset, off = self._set, self._off
            qs, cands = idtable.same_hash(tab, mask, harr, self._hash)
            for q, sid in zip(qs, cands, strict=True):
                if found[q] < 0 and pset[off[sid] : off[sid + 1]].tolist() == flat[starts[q] : starts[q + 1]]:
                    found[q] = sid
        new = np.flatnonzero(found < 0)
        hn = harr[new]
        order = np.argsort(hn, kind="stable")
        same = hn[order][1:] == hn[order][:-1]
        if same.any():  # sets of one hash among the new ones: repeats share the first's id
            tied = np.zeros(new.size, dtype=np.bool_)
            tied[order[1:][same]] = True
            tied[order[:-1][same]] = True
            owner: dict[Labels, int] = {}
            repeat = np.zeros(new.size, dtype=np.bool_)
            for k in np.flatnonzero(tied).tolist():
                p = int(new[k])
                o = owner.setdefault(sets[p], p)
                if o != p:
                    repeat[k] = True
                    found[p] = -2 - o  # resolved below, once ``o`` has its id
            added_arr = new[~repeat]
        else:
            added_arr = new
        made = np.arange(first, first + added_arr.size, dtype=np.int64)
        found[added_arr] = made
        rep = np.flatnonzero(found < -1)
        if rep.size:
            found[rep] = found[-2 - found[rep]]
        idtable.place(tab, mask, harr[added_arr], made.astype(np.int32))
        return found.tolist(), added_arr.tolist()

    def _post(self, first: int, end: int) -> None:
        """Add the ids ``first``..``end - 1`` (just written to the pair arrays) to the
        postings of their pairs: grouped by pair, each list extended once."""
        # slices are copies: no buffer of the growing arrays is held (see the class docstring)
        flat = np.frombuffer(self._set[self._off[first] : self._off[end]], dtype=_pid_dtype(self._set))
        if not flat.size:
            return  # label sets without labels: no postings
        offs = np.frombuffer(self._off[first : end + 1], dtype=np.uint32).astype(np.int64)
        counts = offs[1:] - offs[:-1]
        owner = np.repeat(np.arange(first, end, dtype=np.int32), counts)
        order = np.argsort(flat, kind="stable")  # ids stay ascending within a pair
        by_pair = flat[order]
        cut = np.flatnonzero(by_pair[1:] != by_pair[:-1]) + 1
        starts = np.concatenate(([0], cut)).tolist()
        ends = np.concatenate((cut, [by_pair.size])).tolist()
        ids = owner[order]
        plists = self._plists
        for pid, a, b in zip(by_pair[starts].tolist(), starts, ends, strict=True):
            plists[pid].frombytes(ids[a:b].tobytes())

    def add(self, labels: Labels) -> int:
        return self._add(labels, hash(labels))

    def add_all(self, labels: Iterable[Labels]) -> None:
        for lb in labels:
            self._add(lb, hash(lb))

    @classmethod
    def from_table(cls, symbols: Sequence[str], nlab: IDs, pairs: npt.NDArray[np.uint32]) -> MemIndex:
        """The index of a stored series table, built with numpy instead of per series.

        A block's index file holds each series as (name, value) symbol numbers in label
        order; a block of 100,000 series read one label set at a time costs a second of
        Python, and a query over a week of 2-hour blocks opens a hundred of them.  Here
        the distinct pairs get their ids (in (name, value) order: symbols are sorted),
        each series' pair ids and the postings are arrays cut from one sort, and label
        sets are built only when a query asks for them.  The hashes used for lookups by
        label set (``get``) are computed on the first lookup (blocks never look up).
        """
        idx = cls()
        n = int(nlab.shape[0])
        if not n:
            return idx
        nsym = len(symbols)
        flat = pairs.astype(np.int64)
        codes = flat[0::2] * nsym + flat[1::2]
        if nsym * nsym <= _DENSE_PAIR_CODES:
            # a table over every possible code: no sort (blocks have a few thousand symbols)
            seen = np.zeros(nsym * nsym, dtype=np.bool_)
            seen[codes] = True
            uniq = np.flatnonzero(seen)
            rank = np.zeros(nsym * nsym, dtype=np.int64)
            rank[uniq] = np.arange(uniq.shape[0])
            inverse = rank[codes]
        else:
            uniq, inverse = np.unique(codes, return_inverse=True)
            inverse = inverse.ravel()
        strs = idx._strings
        for code in uniq.tolist():
            name, value = symbols[code // nsym], symbols[code % nsym]
            q = (strs.setdefault(name, name), strs.setdefault(value, value))
            idx._pairs[q] = len(idx._pair_of)
            idx._pair_of.append(q)
        idx._set = _pid_array(inverse, len(idx._pair_of))
        off = np.zeros(n + 1, dtype=np.uint32)
        np.cumsum(nlab, out=off[1:])
        idx._off = array("I", off.tobytes())
        owner = np.repeat(np.arange(n, dtype=np.int32), nlab)
        # by pair, ids ascending within a pair (16-bit keys sort by radix, in linear time)
        keys = inverse.astype(np.uint16) if len(idx._pair_of) <= 1 << 16 else inverse
        order = np.argsort(keys, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(idx._pair_of) + 1))
        by_pair = owner[order]
        for pid, (name, value) in enumerate(idx._pair_of):
            lst = array("i", by_pair[bounds[pid] : bounds[pid + 1]].tobytes())
            idx._postings.setdefault(name, {})[value] = lst
            idx._plists.append(lst)
        idx._hash = array("q")
        idx._lazy_hash = True
        idx._n = n
        return idx

    def compacted(self, keep: npt.NDArray[np.bool_]) -> MemIndex:
        """A new index of the series ``keep`` marks, renumbered 0, 1, 2, ... in their old order
        (series garbage collection).  Pairs no kept series carries are gone with their postings
        and label values; the old index is left as it was (a frozen head view may read it).
        """
        n = self._n
        kept = np.flatnonzero(keep[:n]).astype(np.int64)
        idx = MemIndex()
        if not kept.size:
            return idx
        lens, flat = self._gather(kept)
        used, inverse = np.unique(flat, return_inverse=True)
        strs = idx._strings
        for pid in used.tolist():
            name, value = self._pair_of[pid]
            q = (strs.setdefault(name, name), strs.setdefault(value, value))
            idx._pairs[q] = len(idx._pair_of)
            idx._pair_of.append(q)
        new_pids = inverse.ravel().astype(np.int32)
        idx._set = _pid_array(new_pids, len(idx._pair_of))
        off = np.zeros(kept.shape[0] + 1, dtype=np.uint32)
        np.cumsum(lens, out=off[1:])
        idx._off = array("I", off.tobytes())
        owner = np.repeat(np.arange(kept.shape[0], dtype=np.int32), lens)
        order = np.argsort(new_pids, kind="stable")
        bounds = np.searchsorted(new_pids[order], np.arange(len(idx._pair_of) + 1))
        by_pair = owner[order]
        for pid, (name, value) in enumerate(idx._pair_of):
            lst = array("i", by_pair[bounds[pid] : bounds[pid + 1]].tobytes())
            idx._postings.setdefault(name, {})[value] = lst
            idx._plists.append(lst)
        if self._lazy_hash:
            idx._hash = array("q")
            idx._lazy_hash = True
        else:
            idx._hash = array("q", np.frombuffer(self._hash, dtype=np.int64)[kept].tobytes())
        idx._n = int(kept.shape[0])
        return idx

    def _known_pids(self, labels: Labels) -> list[int] | None:
        """Pair ids of a label set, or None when one pair was never seen (a new series)."""
        get = self._pairs.get
        out = []
        for p in labels:
            pid = get(p)
            if pid is None:
                return None
            out.append(pid)
        return out

    def _find(self, labels: Labels, h: int, pids: list[int]) -> int | None:
        if self._table is None:
            self._rebuild_table()
        tab = self._table
        assert tab is not None
        hashes, mask = self._hash, self._mask
        slot = h & mask
        while True:
            sid = tab[slot]
            if sid < 0:
                return None
            if hashes[sid] == h and self._pids(sid) == pids:
                return sid
            slot = (slot + 1) & mask

    def _pids(self, sid: int) -> list[int]:
        off = self._off
        out: list[int] = self._set[off[sid] : off[sid + 1]].tolist()
        return out

    def _add(self, labels: Labels, h: int, pids: list[int] | None = None) -> int:
        if self._lazy_hash:
            self._rebuild_table()
        sid = self._n
        if pids is None:
            pids = [self._pair_id(p) for p in labels]
        self._set.extend(pids)
        self._off.append(len(self._set))
        self._hash.append(h)
        plists = self._plists
        for pid in pids:
            plists[pid].append(sid)
        self._n = sid + 1  # readers see the series only once it is complete
        if self._table is not None:
            if 2 * self._n > len(self._table):
                self._rebuild_table()
            else:
                self._insert(sid, h)
        return sid

    def _pair_id(self, pair: tuple[str, str]) -> int:
        pid = self._pairs[pair]
        self._widen()
        return pid

    def _widen(self) -> None:
        if len(self._pair_of) > _NARROW_PAIRS and self._set.typecode == "H":
            self._set = array("i", self._set.tolist())  # widened once: ids from here need 4 bytes

    def _insert(self, sid: int, h: int) -> None:
        tab, mask = self._table, self._mask
        assert tab is not None
        slot = h & mask
        while tab[slot] >= 0:
            slot = (slot + 1) & mask
        tab[slot] = sid

    def _rebuild_table(self, extra: int = 0) -> None:
        """A table at most half full (short probe sequences), rebuilt when it fills up;
        ``extra``: series about to be added, for which there is room already."""
        if self._lazy_hash:
            self._hash = array("q", (hash(lb) for lb in self.iter_labels()))
            self._lazy_hash = False
        size = 1024
        while size < 2 * (self._n + extra) + 2:
            size *= 2
        self._table = array("i", [-1]) * size
        self._mask = size - 1
        if self._n:
            idtable.place(self._table, self._mask, np.frombuffer(self._hash, dtype=np.int64),
                          np.arange(self._n, dtype=np.int32))

    def labels_of(self, ids: IDs) -> list[Labels]:
        """Label sets of ``ids``: the recently built ones from a bounded cache, the rest built
        now (the index itself keeps only pair ids)."""
        if not ids.size:
            return []
        built = self._built
        wanted = ids.tolist()
        out: list[Labels | None] = list(map(built.get, wanted))
        missing = [k for k, lb in enumerate(out) if lb is None]
        if not missing:
            return out  # type: ignore[return-value]
        fresh = self._build([wanted[k] for k in missing])
        for k, lb in zip(missing, fresh, strict=True):
            out[k] = lb
        if len(fresh) <= _BUILT_CAP:  # a larger answer would only evict itself
            if len(built) + len(fresh) > _BUILT_CAP:
                built.clear()
            built.update((wanted[k], lb) for k, lb in zip(missing, fresh, strict=True))
        return out  # type: ignore[return-value]

    def _build(self, ids: list[int]) -> list[Labels]:
        pt = self._pair_of
        make = Labels.from_sorted
        if len(ids) < _FEW:
            off, pairs = self._off, self._set
            return [make([pt[p] for p in pairs[off[i] : off[i + 1]]]) for i in ids]
        lens, flat = self._gather(np.array(ids, dtype=np.int64))
        items = [pt[p] for p in flat.tolist()]
        res: list[Labels] = []
        pos = 0
        for k in lens.tolist():
            res.append(make(items[pos : pos + k]))
            pos += k
        return res

    def _snapshot(self, upto: int) -> tuple[IDs, npt.NDArray[np.int32]]:
        """Copies of the offsets and pair ids of the first ``upto`` series."""
        off = np.frombuffer(self._off[: upto + 1], dtype=np.uint32).astype(np.int64)
        pairs = np.frombuffer(self._set[: int(off[-1])], dtype=_pid_dtype(self._set))
        return off, pairs.astype(np.int32, copy=False)

    def _gather(self, ids: IDs) -> tuple[IDs, npt.NDArray[np.int32]]:
        """Pair counts of ``ids`` and their pair ids, concatenated."""
        off, pairs = self._snapshot(int(ids.max()) + 1)
        lo = off[ids]
        lens = off[ids + 1] - lo
        flat = pairs[np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))]
        return lens, flat

    def pair_rows(self, ids: IDs) -> tuple[IDs, npt.NDArray[np.int32], list[tuple[str, str]]]:
        """Label count of each of ``ids``, their pair ids concatenated (in label order), and
        the (name, value) pair of every pair id: label sets compared without building them."""
        if not ids.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), self._pair_of
        lens, flat = self._gather(ids)
        return lens, flat, self._pair_of

    def iter_labels(self, batch: int = 10_000) -> Iterator[Labels]:
        """Every label set in id order, built a batch at a time."""
        n = self._n
        for lo in range(0, n, batch):
            yield from self.labels_of(np.arange(lo, min(lo + batch, n), dtype=np.int64))

    def _pair_ids_of(self, ids: IDs) -> npt.NDArray[np.int32]:
        """Distinct pair ids carried by the series ``ids``."""
        out: npt.NDArray[np.int32] = np.unique(self._gather(ids)[1])
        return out

    def layout_rank(self) -> IDs:
        """Position of every series in ``layout_key`` order, without building label sets.

        Pairs are ranked once by (name, value); a series becomes a row of pair ranks
        (metric name, job, the other labels in name order, instance; -1 where absent,
        which sorts first as a missing value or a shorter tuple does), and one lexsort
        orders the rows as ``layout_key`` orders the label sets.
        """
        n = self._n
        if not n:
            return np.zeros(0, dtype=np.int64)
        pt = self._pair_of
        order = sorted(range(len(pt)), key=pt.__getitem__)
        prank = np.empty(len(pt), dtype=np.int64)
        prank[np.array(order, dtype=np.int64)] = np.arange(len(pt))
        kind_of = {"__name__": 0, _TARGET_LABELS[0]: 1, _TARGET_LABELS[1]: 2}
        pkind = np.array([kind_of.get(name, 3) for name, _ in pt], dtype=np.int8)
        off, flat = self._snapshot(n)
        lens = np.diff(off)
        owner = np.repeat(np.arange(n, dtype=np.int64), lens)
        kind, rank = pkind[flat], prank[flat]
        cols = []
        for k in (0, 1, 2):
            col = np.full(n, -1, dtype=np.int64)
            m = kind == k
            col[owner[m]] = rank[m]
            cols.append(col)
        m = kind == 3
        o_owner, o_rank = owner[m], rank[m]
        first = np.searchsorted(o_owner, o_owner)  # owners are grouped: start of each group
        pos = np.arange(o_owner.shape[0]) - first
        width = int(pos.max()) + 1 if pos.size else 0
        rest = np.full((n, width), -1, dtype=np.int64)
        rest[o_owner, pos] = o_rank
        # lexsort: the last key is the primary one
        keys = [cols[1], *(rest[:, j] for j in range(width - 1, -1, -1)), cols[2], cols[0]]
        by_layout = np.lexsort(keys)
        out = np.empty(n, dtype=np.int64)
        out[by_layout] = np.arange(n)
        return out

    # --- reading -------------------------------------------------------------------------

    def all_ids(self) -> IDs:
        return np.arange(self._n, dtype=np.int64)

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
        if not ids.size:
            return set()
        pt = self._pair_of
        return {pt[p][0] for p in self._pair_ids_of(ids).tolist()}

    def label_values(self, name: str, ids: IDs | None = None) -> set[str]:
        byval = self._postings.get(name, {})
        if ids is None:
            return {v for v, lst in byval.items() if len(lst)}
        if not ids.size or not byval:
            return set()
        pt = self._pair_of
        return {v for n, v in (pt[p] for p in self._pair_ids_of(ids).tolist()) if n == name and v}

    def postings_stats(self, metric_label: str, limit: int) -> PostingsStats:
        """Series per value of ``metric_label`` (``__name__``), values per label name, bytes of
        the distinct values per label name, series per label pair: from the postings and their
        lengths, without reading one sample (Prometheus 2.42's figures, checked against it)."""
        by_metric: list[tuple[str, int]] = []
        values_by_name: list[tuple[str, int]] = []
        bytes_by_name: list[tuple[str, int]] = []
        pairs: list[tuple[str, int]] = []
        for name, byval in self._postings.items():
            n_values = size = 0
            for value, ids in byval.items():
                count = len(ids)
                if not count:
                    continue
                n_values += 1
                size += len(value)
                pairs.append((f"{name}={value}", count))
                if name == metric_label:
                    by_metric.append((value, count))
            if n_values:
                values_by_name.append((name, n_values))
                bytes_by_name.append((name, size))
        return PostingsStats(
            num_label_pairs=len(pairs),
            series_count_by_metric_name=_top(by_metric, limit),
            label_value_count_by_label_name=_top(values_by_name, limit),
            memory_in_bytes_by_label_name=_top(bytes_by_name, limit),
            series_count_by_label_value_pair=_top(pairs, limit),
        )

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
