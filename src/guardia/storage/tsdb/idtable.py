"""The head index's open-addressing table of series ids, worked on a batch at a time.

``MemIndex`` finds a label set's id through a table of ids keyed by the set's ``hash()``
(linear probing, at most half full, -1 for an empty slot).  A scrape's first scrape
brings ~2,000 new series at once, and probing and filling the table one series at a
time in Python cost about 0.5 µs a series, plus as much again each time the table
doubles and every id is inserted anew.  Here every series of a batch advances one slot
per numpy round instead; after a few rounds only the few in long clusters are left, and
they finish one by one.

The slots ids end in may differ from where one-at-a-time insertion would have put them,
which no lookup can tell: a lookup walks from the home slot to the first empty one, and
an id only ever moves past slots that were taken when it was placed, which stay taken.
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

_FEW = 32  # fewer left than this: finished in Python (a numpy round costs ~20 µs)


def place(tab: array[int], mask: int, hashes: I64, ids: npt.NDArray[np.int32]) -> None:
    """Put ``ids`` (with their ``hashes``) into empty slots of ``tab``.  Each round, every
    id left is written to its slot if that is empty; of several written to one slot, the
    one that stays there took it, and the others move on to the next slot."""
    slot = hashes & mask
    todo = ids
    view = np.frombuffer(tab, dtype=np.int32)  # writes go to ``tab``; dropped on return
    while todo.size and todo.size >= _FEW:
        free = np.flatnonzero(view[slot] < 0)
        at = slot[free]
        view[at] = todo[free]  # of several ids for one slot, one is written: it takes it
        won = np.zeros(todo.size, dtype=np.bool_)
        won[free] = view[at] == todo[free]
        left = ~won
        todo = todo[left]
        slot = (slot[left] + 1) & mask
    del view
    for i, s in zip(todo.tolist(), slot.tolist(), strict=True):
        while tab[s] >= 0:
            s = (s + 1) & mask
        tab[s] = i


def same_hash(tab: array[int], mask: int, hashes: I64, known: array[int]) -> tuple[list[int], list[int]]:
    """For each query hash, the ids in its probe sequence (from its home slot to the first
    empty one) whose hash (``known[id]``) is the same: two lists, query positions and ids,
    each query's ids in probe order.  One of them is the query's set, if any is (the
    caller compares the sets)."""
    view = np.frombuffer(tab, dtype=np.int32)
    have = np.frombuffer(known, dtype=np.int64)
    slot = hashes & mask
    todo = np.arange(hashes.size, dtype=np.int64)
    got_q: list[I64] = []
    got_id: list[I64] = []
    while todo.size and todo.size >= _FEW:
        sid = view[slot]
        live = sid >= 0
        if not live.all():
            todo, slot, sid = todo[live], slot[live], sid[live]
        eq = have[sid] == hashes[todo]
        if eq.any():
            got_q.append(todo[eq])
            got_id.append(sid[eq].astype(np.int64))
        slot = (slot + 1) & mask
    del view, have
    rest_q: list[int] = []
    rest_id: list[int] = []
    for k, s in zip(todo.tolist(), slot.tolist(), strict=True):
        h = int(hashes[k])
        sid = tab[s]
        while sid >= 0:
            if known[sid] == h:
                rest_q.append(k)
                rest_id.append(sid)
            s = (s + 1) & mask
            sid = tab[s]
    if not got_q:
        return rest_q, rest_id
    q = np.concatenate([*got_q, np.array(rest_q, dtype=np.int64)])
    ids = np.concatenate([*got_id, np.array(rest_id, dtype=np.int64)])
    order = np.argsort(q, kind="stable")  # by query, each one's ids in probe order
    return q[order].tolist(), ids[order].tolist()
