"""PromQL as Prometheus 3.x evaluates it, over any storage with ``querier(mint, maxt)``."""

from guardia.promql.engine import Engine, EngineOptions, QueryResult, Sample
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

__all__ = [
    "BadDataError",
    "Engine",
    "EngineOptions",
    "ExecutionError",
    "ParseError",
    "PromQLError",
    "QueryCanceledError",
    "QueryResult",
    "QueryTimeoutError",
    "Sample",
    "TooManySamplesError",
    "parse",
]
