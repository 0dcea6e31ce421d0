"""Per-query evaluation state: the storage, the steps, limits and collected annotations.

The context owns the query's one querier: opened on the first select over the range
``reads`` worked out from the plan, closed by the engine when the query is done.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from guardia.model import Matcher
from guardia.promql import plan
from guardia.promql.errors import QueryCanceledError, QueryTimeoutError, TooManySamplesError
from guardia.promql.reads import Reads
from guardia.promql.values import I64, RangeVector, Scalar, Value, Vector
from guardia.storage.interface import Querier, Queryable, SelectHints, SeriesSet


class SharedResults(Protocol):
    """Subexpression results shared by the queries of a view (``memo.Memo``)."""

    def value(self, ctx: EvalContext, node: plan.Node, ts: I64, variant: Hashable,
              compute: Callable[[], Value]) -> Value: ...


class SplitSteps(Exception):
    """A selector would load more raw samples than one chunk may hold: split the steps."""


@dataclass
class EvalContext:
    storage: Queryable
    start: int
    end: int
    step: int
    lookback: int
    max_samples: int
    deadline: float  # time.monotonic() limit
    cancel: threading.Event | None
    subquery_step: int = 60_000
    query: str = ""
    raw_budget: int = 20_000_000
    # Set by a range query while the current chunk has several steps and may be split.
    can_split: bool = False
    warnings: dict[str, None] = field(default_factory=dict)
    infos: dict[str, None] = field(default_factory=dict)
    total_samples: int = 0
    # Samples held per top-level step, to enforce max_samples the way Prometheus does
    # (per evaluation step, not summed over a range query).
    peak_samples: int = 0
    # What the query reads (the querier's range, each selector's hint function).
    reads: Reads = field(default_factory=Reads)
    querier: Querier | None = None
    # Subexpression results shared with the other queries of a view (``memo.Memo``).
    memo: SharedResults | None = None
    # Annotations collected for memoised subexpressions being evaluated (``recording``).
    _recorders: list[tuple[dict[str, None], dict[str, None]]] = field(default_factory=list)

    def select(
        self, matchers: Sequence[Matcher], mint: int, maxt: int, *, func: str = "", range_ms: int = 0
    ) -> SeriesSet:
        """One selector's series in ``[mint, maxt]``, through the query's querier."""
        self.check()
        if self.querier is None or not self.reads.covers(mint, maxt):
            # ``reads`` covers every selector of the plan; a select outside it (a plan
            # node it does not know) widens the range rather than missing data.
            self.reads.add(mint, maxt)
            self.close()
            self.querier = self.storage.querier(self.reads.mint, self.reads.maxt)
        return self.querier.select(matchers, SelectHints(mint, maxt, self.step, func, range_ms))

    def close(self) -> None:
        if self.querier is not None:
            self.querier.close()
            self.querier = None

    def check(self) -> None:
        """Raise if the query ran out of time or its client went away."""
        if self.cancel is not None and self.cancel.is_set():
            raise QueryCanceledError()
        if time.monotonic() > self.deadline:
            raise QueryTimeoutError()

    def add_samples(self, held: int, total: int) -> None:
        """Account samples a selector loaded.

        ``held`` is what stays in memory at once, as Prometheus counts it: every point of
        an instant selector (a range query keeps them all), but only one step's windows of
        a range selector (windows are consumed step by step).  ``total`` is every sample
        read, the figure query statistics report.
        """
        self.total_samples += total
        self.peak_samples += held
        if self.peak_samples > self.max_samples:
            raise TooManySamplesError()
        self.check()

    def check_raw(self, raw: int) -> None:
        """Ask for a smaller chunk of steps when a selector read too much raw data."""
        if raw > self.raw_budget and self.can_split:
            raise SplitSteps()

    def warn(self, msg: str) -> None:
        self.warnings[msg] = None
        for w, _ in self._recorders:
            w[msg] = None

    def info(self, msg: str) -> None:
        self.infos[msg] = None
        for _, i in self._recorders:
            i[msg] = None

    @contextlib.contextmanager
    def recording(self) -> Iterator[tuple[dict[str, None], dict[str, None]]]:
        """The warnings and infos raised inside the block, even those the query had
        already (a memoised result replays them in other queries)."""
        rec: tuple[dict[str, None], dict[str, None]] = ({}, {})
        self._recorders.append(rec)
        try:
            yield rec
        finally:
            # by identity: two recorders that saw the same messages compare equal
            del self._recorders[next(i for i, r in enumerate(self._recorders) if r is rec)]

    def steps(self) -> I64:
        n = (self.end - self.start) // self.step + 1 if self.step > 0 else 1
        return self.start + np.arange(n, dtype=np.int64) * max(self.step, 1)


class ExprEvaluator(Protocol):
    """What a node handler (aggregations, binops, functions, selectors) needs from the
    evaluator: its context, and the evaluation of a sub-expression as a given type.

    Handlers are typed against this, not ``evaluator.Evaluator``, so the evaluator imports
    them and they never import it back.
    """

    ctx: EvalContext

    def eval(self, node: plan.Node, ts: I64) -> Value: ...

    def eval_names_unused(self, node: plan.Call, ts: I64) -> Value: ...

    def eval_vector(self, node: plan.Node, ts: I64) -> Vector: ...

    def eval_vector_h(self, node: plan.Node, ts: I64) -> Vector: ...

    def eval_vector_like(self, node: plan.Node, ts: I64) -> Vector: ...

    def eval_scalar(self, node: plan.Node, ts: I64) -> Scalar: ...

    def eval_range(self, node: plan.Node, ts: I64) -> RangeVector: ...

    def eval_range_h(self, node: plan.Node, ts: I64) -> RangeVector: ...

    def eval_string(self, node: plan.Node, ts: I64) -> str: ...
