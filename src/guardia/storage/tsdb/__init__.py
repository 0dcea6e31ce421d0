"""The embedded time-series store: head in memory, write-ahead log, immutable blocks on disk.

Public surface: ``TSDB`` (implements ``guardia.storage.interface.Storage``) and
``TSDBOptions``.  The modules are arranged as the data flows: ``head`` takes appends,
``wal`` makes them durable, ``block`` holds cut data on disk, ``compact`` merges and
expires blocks, ``db`` ties them together behind the storage protocols.
"""

from guardia.storage.tsdb.db import TSDB, TSDBAppender, TSDBQuerier
from guardia.storage.tsdb.options import TSDBOptions

__all__ = ["TSDB", "TSDBAppender", "TSDBOptions", "TSDBQuerier"]
