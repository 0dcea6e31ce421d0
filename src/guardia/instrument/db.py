"""Database and cache timings: one histogram for every client the app uses, named after
OpenTelemetry's ``db.client.operation.duration`` so panels work across languages.

``db_client_operation_duration_seconds{db_system, db_operation}`` and
``db_client_errors_total{db_system, db_operation, type}``. The operation is the statement's
first keyword (``SELECT``, ``INSERT``, ...) or the Redis command, from a fixed vocabulary, never
the statement text, so queries cannot explode cardinality.

Each ``instrument_*`` function hooks one client library the way that library offers:
SQLAlchemy engine events, a psycopg cursor class, asyncpg's query logger, a wrapper around
redis-py's ``execute_command`` and pipeline ``execute``. The library is imported only by the
function for it.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

# From fractions of a millisecond (a cache hit) to seconds (a slow report query).
DB_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
SQL_OPERATIONS = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT",
    "RELEASE", "CREATE", "DROP", "ALTER", "TRUNCATE", "COPY", "SET", "SHOW", "EXPLAIN", "CALL",
    "DO", "LISTEN", "NOTIFY", "VACUUM", "ANALYZE", "GRANT", "REVOKE", "LOCK", "MERGE", "PREPARE",
    "EXECUTE", "DEALLOCATE", "FETCH", "DECLARE", "CLOSE", "REFRESH",
})
OTHER = "OTHER"


def sql_operation(statement: Any) -> str:
    text = statement.decode("utf-8", "replace") if isinstance(statement, bytes) else str(statement)
    word = text.lstrip(" \t\r\n(").split(None, 1)
    op = word[0].upper().rstrip(";") if word else ""
    return op if op in SQL_OPERATIONS else OTHER


def redis_operation(command: Any) -> str:
    name = command.decode("ascii", "replace") if isinstance(command, bytes) else str(command)
    first = name.split(" ", 1)[0].upper()
    return first if first.isalpha() and len(first) <= 24 else OTHER


class DbMetrics:
    def __init__(self, registry: CollectorRegistry | None = None,
                 buckets: tuple[float, ...] = DB_BUCKETS) -> None:
        self.duration = Histogram(
            "db_client_operation_duration_seconds",
            "Time of database and cache operations as the client saw them.",
            ("db_system", "db_operation"), registry=registry, buckets=buckets)
        self.errors = Counter(
            "db_client_errors", "Database and cache operations that raised, by exception type.",
            ("db_system", "db_operation", "type"), registry=registry)

    def observe(self, system: str, operation: str, seconds: float,
                error: BaseException | None = None) -> None:
        self.duration.labels(system, operation).observe(seconds)
        if error is not None:
            self.errors.labels(system, operation, type(error).__name__).inc()


_DEFAULT: list[DbMetrics] = []


def default_metrics() -> DbMetrics:
    """One set per process in the default registry (every hook shares it)."""
    if not _DEFAULT:
        _DEFAULT.append(DbMetrics())
    return _DEFAULT[0]


# -- SQLAlchemy -----------------------------------------------------------------------------


def instrument_sqlalchemy(engine: Any, metrics: DbMetrics | None = None) -> None:
    """Time every statement of ``engine`` (an ``AsyncEngine`` is hooked through its sync engine)."""
    from sqlalchemy import event

    m = metrics or default_metrics()
    target = getattr(engine, "sync_engine", engine)
    system = str(getattr(target.dialect, "name", "sql"))

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("guardia_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        started = conn.info.get("guardia_started")
        if started:
            m.observe(system, sql_operation(statement), time.perf_counter() - started.pop())

    def failed(ctx: Any) -> None:
        conn = ctx.connection
        started = conn.info.get("guardia_started") if conn is not None else None
        if started:
            m.observe(system, sql_operation(ctx.statement or ""), time.perf_counter() - started.pop(),
                      ctx.original_exception)

    event.listen(target, "before_cursor_execute", before)
    event.listen(target, "after_cursor_execute", after)
    event.listen(target, "handle_error", failed)


# -- psycopg 3 ------------------------------------------------------------------------------


def instrument_psycopg(conn: Any, metrics: DbMetrics | None = None) -> None:
    """Time every ``execute``/``executemany`` of a psycopg 3 connection (sync or async),
    including ``conn.execute``, by giving it a timing cursor class."""
    import psycopg

    m = metrics or default_metrics()
    if isinstance(conn, psycopg.AsyncConnection):
        conn.cursor_factory = _async_cursor(conn.cursor_factory, m)
    else:
        conn.cursor_factory = _sync_cursor(conn.cursor_factory, m)


def _sync_cursor(base: type[Any], m: DbMetrics) -> type[Any]:
    class TimedCursor(base):  # type: ignore[misc, valid-type]
        def execute(self, query: Any, *args: Any, **kw: Any) -> Any:
            return _timed(m, "postgresql", _query_op(query),
                          lambda: super(TimedCursor, self).execute(query, *args, **kw))

        def executemany(self, query: Any, *args: Any, **kw: Any) -> Any:
            return _timed(m, "postgresql", _query_op(query),
                          lambda: super(TimedCursor, self).executemany(query, *args, **kw))

    return TimedCursor


def _async_cursor(base: type[Any], m: DbMetrics) -> type[Any]:
    class TimedAsyncCursor(base):  # type: ignore[misc, valid-type]
        async def execute(self, query: Any, *args: Any, **kw: Any) -> Any:
            return await _timed_async(m, "postgresql", _query_op(query),
                                      lambda: super(TimedAsyncCursor, self).execute(query, *args, **kw))

        async def executemany(self, query: Any, *args: Any, **kw: Any) -> Any:
            return await _timed_async(m, "postgresql", _query_op(query),
                                      lambda: super(TimedAsyncCursor, self).executemany(query, *args, **kw))

    return TimedAsyncCursor


def _query_op(query: Any) -> str:
    if isinstance(query, str | bytes):
        return sql_operation(query)
    as_string = getattr(query, "as_string", None)  # psycopg.sql.Composed
    try:
        return sql_operation(as_string(None)) if as_string is not None else OTHER
    except Exception:
        return OTHER


def _timed(m: DbMetrics, system: str, op: str, call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        result = call()
    except Exception as e:
        m.observe(system, op, time.perf_counter() - start, e)
        raise
    m.observe(system, op, time.perf_counter() - start)
    return result


async def _timed_async(m: DbMetrics, system: str, op: str, call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        result = await call()
    except Exception as e:
        m.observe(system, op, time.perf_counter() - start, e)
        raise
    m.observe(system, op, time.perf_counter() - start)
    return result


# -- asyncpg --------------------------------------------------------------------------------


def instrument_asyncpg(conn: Any, metrics: DbMetrics | None = None) -> None:
    """Time every query of an asyncpg connection through its query logger (asyncpg ≥ 0.29).

    For a pool: ``asyncpg.create_pool(..., init=asyncpg_pool_init)``.
    """
    m = metrics or default_metrics()

    def logged(record: Any) -> None:
        m.observe("postgresql", sql_operation(record.query), float(record.elapsed), record.exception)

    conn.add_query_logger(logged)


async def asyncpg_pool_init(conn: Any) -> None:
    instrument_asyncpg(conn)


# -- redis-py -------------------------------------------------------------------------------


def instrument_redis(client: Any, metrics: DbMetrics | None = None) -> Any:
    """Time every command of a redis-py client (``redis.Redis`` or ``redis.asyncio.Redis``) and
    every pipeline (as one ``PIPELINE`` operation); returns the client."""
    m = metrics or default_metrics()
    client.execute_command = _wrap(client.execute_command, m,
                                   lambda a: redis_operation(a[0]) if a else OTHER)
    make_pipeline = client.pipeline

    @functools.wraps(make_pipeline)
    def pipeline(*args: Any, **kw: Any) -> Any:
        pipe = make_pipeline(*args, **kw)
        pipe.execute = _wrap(pipe.execute, m, lambda a: "PIPELINE")
        return pipe

    client.pipeline = pipeline
    return client


def _wrap(fn: Callable[..., Any], m: DbMetrics,
          op_of: Callable[[tuple[Any, ...]], str]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def timed_async(*args: Any, **kw: Any) -> Any:
            return await _timed_async(m, "redis", op_of(args), lambda: fn(*args, **kw))
        return timed_async

    @functools.wraps(fn)
    def timed(*args: Any, **kw: Any) -> Any:
        return _timed(m, "redis", op_of(args), lambda: fn(*args, **kw))

    return timed
