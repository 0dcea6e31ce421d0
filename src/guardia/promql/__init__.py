"""PromQL as Prometheus 3.x evaluates it, over any storage with ``querier(mint, maxt)``.

Layout: ``parse`` (the compiled Prometheus grammar via ``promql-parser``, converted into
``plan`` nodes), ``evaluator`` (walks the plan for an array of steps at once), one module
per job (``selectors``, ``windows``, ``rangefuncs``, ``functions``, ``aggregations``,
``binops``, ``histograms``, ``kahan``, ``dedupe``), ``annotate`` (warning/info texts),
``errors`` and ``engine`` (the public entry point).  ``scripttest`` runs Prometheus's
promqltest scripts (``guardia promqltest``).

Float samples and native histograms.  Prometheus 3's experimental functions are on without a
flag: ``limitk``, ``limit_ratio`` (with Prometheus's own label hash, ``model.labelhash``, so it
samples the same series) and ``info()`` (``info``).
"""

from typing import TYPE_CHECKING, Any

from guardia.promql.errors import (
    BadDataError,
    ExecutionError,
    ParseError,
    PromQLError,
    QueryCanceledError,
    QueryTimeoutError,
    TooManySamplesError,
)
from guardia.promql.parse import parse

if TYPE_CHECKING:
    from guardia.promql.engine import Engine, EngineOptions, QueryResult, Sample
    from guardia.promql.memo import Memo

# The evaluator (and numpy) load on first use of the engine: validating expressions, as
# ``guardia check config`` does for every rule, needs only the parser.
_ENGINE_NAMES = {"Engine", "EngineOptions", "QueryResult", "Sample"}


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from guardia.promql import engine

        return getattr(engine, name)
    if name == "Memo":
        from guardia.promql import memo

        return memo.Memo
    raise AttributeError(f"module 'guardia.promql' has no attribute {name!r}")

__all__ = [
    "BadDataError",
    "Engine",
    "EngineOptions",
    "ExecutionError",
    "Memo",
    "ParseError",
    "PromQLError",
    "QueryCanceledError",
    "QueryResult",
    "QueryTimeoutError",
    "Sample",
    "TooManySamplesError",
    "parse",
]
