"""Where samples go and come from: the ``Storage`` boundary and its implementations.

``interface`` holds the protocols every engine implements; ``memory`` is a small reference
engine for tests; ``tsdb`` is the embedded durable engine; ``remote`` talks to external ones.
"""

from guardia.storage.interface import (
    Appender,
    AppendError,
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    Querier,
    Queryable,
    SelectHints,
    Series,
    SeriesRef,
    SeriesSet,
    Storage,
)

__all__ = [
    "AppendError",
    "Appender",
    "DuplicateSampleError",
    "OutOfBoundsError",
    "OutOfOrderError",
    "Querier",
    "Queryable",
    "SelectHints",
    "Series",
    "SeriesRef",
    "SeriesSet",
    "Storage",
]
