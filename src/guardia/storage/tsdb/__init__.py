"""The embedded time-series store: head in memory, write-ahead log, immutable blocks on disk.

Public surface: ``TSDB`` (implements ``guardia.storage.interface.Storage``) and
``TSDBOptions``.  The modules are arranged as the data flows: ``head`` takes appends,
``wal`` makes them durable, ``block`` holds cut data on disk, ``compact`` merges and
expires blocks, ``db`` ties them together behind the storage protocols.
"""

from typing import TYPE_CHECKING, Any

from guardia.storage.tsdb.options import TSDBOptions

if TYPE_CHECKING:
    from guardia.storage.tsdb.db import TSDB, TSDBAppender, TSDBQuerier

__all__ = ["TSDB", "TSDBAppender", "TSDBOptions", "TSDBQuerier"]


def __getattr__(name: str) -> Any:
    """The store itself on first use: the agent and the remote write reader use only ``wal``
    of this package, and must not load the head, blocks and compaction with it."""
    if name in ("TSDB", "TSDBAppender", "TSDBQuerier"):
        from guardia.storage.tsdb import db

        return getattr(db, name)
    raise AttributeError(f"module 'guardia.storage.tsdb' has no attribute {name!r}")
