"""Logs: ingestion (Loki push, file tailing, syslog), the embedded log store and LogQL.

Layering: imports ``guardia.model``, ``guardia.config`` and the leaf ``guardia.template``
(line_format); the HTTP endpoints live in ``guardia.web.loki_api``.
"""

from guardia.logs.errors import LimitError, LogsError, PushError, QueryError
from guardia.logs.store import LogStore, PushStream, StoreOptions

__all__ = ["LimitError", "LogStore", "LogsError", "PushError", "PushStream", "QueryError", "StoreOptions"]
