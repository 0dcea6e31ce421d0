"""LogQL: parse (``parser``), per-line stages (``pipeline``), chunk-level line filters
(``linefilter``) and evaluation against the log store (``engine``)."""

from guardia.logs.logql.engine import (
    EngineOptions,
    LogQLEngine,
    MatrixResult,
    Result,
    ScalarResult,
    StreamsResult,
    default_step_ns,
)
from guardia.logs.logql.parser import parse

__all__ = [
    "EngineOptions",
    "LogQLEngine",
    "MatrixResult",
    "Result",
    "ScalarResult",
    "StreamsResult",
    "default_step_ns",
    "parse",
]
