"""Subexpression results shared by the queries of one view (a dashboard render).

A dashboard's panels repeat subexpressions: ``rate(http_requests_total{job="api"}[5m])``
feeds a requests panel, an error-ratio panel, a by-code panel and a top-k panel, and each
is its own query.  Evaluating that ``rate`` costs the same 16,000 series x 288 steps every
time.  A ``Memo`` handed to the engine with each query of a view keeps instant-vector
results by what determines them, so an identical subexpression is evaluated once:

* the plan node itself (plan nodes are frozen dataclasses: equal when the expressions are
  the same tree, whatever query they sit in),
* the steps it is evaluated at, and the query's start, end, step, lookback delta and
  default subquery step (``@ start()``, ``step()`` and subqueries read them),
* a variant: whether the caller reads ``__name__`` of a function's result, and for a
  selector the hint its parent gives the store.

The memo is only valid while the store does not change under it, so it lives as long as
one view (one ``now``) and is never used by the query API.  Results are frozen (their
arrays made read-only) before any caller sees them, so a consumer that wrote into its
input would fail loudly instead of corrupting another panel's result.  A result whose
evaluation produced warnings or infos is tied to its query's text (messages quote
positions in it); other queries evaluate it themselves.  Stored results are bounded in
cells (series x steps) and dropped least-recently-used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from guardia.promql import plan
from guardia.promql.context import EvalContext
from guardia.promql.values import I64, Value, Vector

MAX_CELLS = 12_000_000  # ~110 MB of values and presence


@dataclass(slots=True)
class _Found:
    value: Vector
    query: str  # the query whose text its annotations quote ("" when it has none)
    warnings: tuple[str, ...]
    infos: tuple[str, ...]


class _Entry:
    __slots__ = ("found", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found: _Found | None = None


def worth(node: plan.Node) -> bool:
    """Nodes whose results are kept: those that read or compute over many series."""
    if isinstance(node, plan.Call):
        return plan.return_type(node.func) == "vector"
    return isinstance(node, plan.Aggregate | plan.Binary | plan.VectorSelector)


def _freeze(vec: Vector) -> Vector:
    vec.values.setflags(write=False)
    vec.present.setflags(write=False)
    return vec


class Memo:
    """Shared by every query of one view; safe to use from several threads at once (a
    second query asking for a result being computed waits for it)."""

    def __init__(self, max_cells: int = MAX_CELLS) -> None:
        self.max_cells = max_cells
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._cells: dict[Hashable, int] = {}
        self.hits = 0  # evaluations answered from the memo (for tests and benchmarks)
        self.misses = 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._cells.clear()

    def value(self, ctx: EvalContext, node: plan.Node, ts: I64, variant: Hashable,
              compute: Callable[[], Value]) -> Value:
        """``compute()``'s result for ``node`` at ``ts``, evaluated once per view."""
        n = len(ts)
        key = (node, variant, int(ts[0]) if n else 0, int(ts[-1]) if n else 0, n,
               ctx.start, ctx.end, ctx.step, ctx.lookback, ctx.subquery_step)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            else:
                self._entries.move_to_end(key)
        while not entry.lock.acquire(timeout=0.05):
            ctx.check()  # the query may be cancelled while another one computes
        try:
            found = entry.found
            if found is not None and (not found.query or found.query == ctx.query):
                self.hits += 1
                for w in found.warnings:
                    ctx.warn(w)
                for i in found.infos:
                    ctx.info(i)
                return found.value
            self.misses += 1
            with ctx.recording() as (warnings, infos):
                val = compute()
            if isinstance(val, Vector):
                noted = bool(warnings or infos)
                entry.found = _Found(_freeze(val), ctx.query if noted else "", tuple(warnings), tuple(infos))
                self._account(key, entry, val.values.size)
            return val
        finally:
            entry.lock.release()

    def _account(self, key: Hashable, entry: _Entry, cells: int) -> None:
        with self._lock:
            if self._entries.get(key) is not entry:
                return  # cleared or evicted meanwhile
            self._cells[key] = cells
            held = sum(self._cells.values())
            if held <= self.max_cells:
                return
            # least recently used first; entries still being computed (an enclosing
            # expression waiting for this one) are not results yet and stay
            for old in [k for k in self._entries if k in self._cells]:
                del self._entries[old]
                held -= self._cells.pop(old)
                if held <= self.max_cells:
                    break
