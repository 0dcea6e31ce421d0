"""SQL checks: one query, read-only, with a statement timeout, on PostgreSQL, MariaDB/MySQL or SQLite.

The query's rows are the result: every column but the last is a label (named after the
column), the last is the value, so ``select status, count(*) from orders group by status``
gives one series per status.  Each run opens its own connection (checks run every minutes, not
every millisecond) inside a read-only transaction that is rolled back, with the server's own
statement timeout set from the check's ``timeout``, so a slow query is stopped by the database
and not left running after guardia gave up on it.

PostgreSQL goes through psycopg 3's async connection on the event loop; MariaDB/MySQL (PyMySQL)
and SQLite are blocking drivers, run by the caller in a worker thread.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from guardia.checks.dsn import DSN
from guardia.checks.result import CheckResultError, Outcome, RowLabels, Status
from guardia.model.labels import is_valid_label_name


class SQLCheckError(Exception):
    """The database refused, timed out or could not be reached; the message says which."""


def rows_outcome(columns: Sequence[str], rows: Sequence[Sequence[Any]], duration_s: float) -> Outcome:
    """The rows of a query as an ``Outcome``: label columns, then the value column."""
    if not columns:
        raise CheckResultError("the query returned no columns: select labels and a value")
    names = [str(c) for c in columns[:-1]]
    for n in names:
        if not is_valid_label_name(n):
            raise CheckResultError(f"column {n!r} cannot be a label name: alias it (AS some_name)")
    out: list[tuple[RowLabels, float]] = []
    for row in rows:
        v = row[-1]
        if v is None:
            continue
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise CheckResultError(f"the last column ({columns[-1]!r}) must be a number, got {v!r}") from None
        labels = tuple(sorted((n, "" if x is None else str(x)) for n, x in zip(names, row[:-1], strict=True)))
        out.append((labels, value if not math.isnan(value) else math.nan))
    return Outcome(True, Status.OK, tuple(out), f"{len(out)} rows", duration_s)


# -- PostgreSQL -----------------------------------------------------------------------------


async def query_postgres(dsn: DSN, query: str, timeout_s: float) -> Outcome:
    import psycopg  # only configs with PostgreSQL checks pay for the import

    start = time.monotonic()
    try:
        conn = await psycopg.AsyncConnection.connect(dsn.reveal(),
                                                     connect_timeout=max(1, math.ceil(timeout_s)))
    except psycopg.Error as e:
        raise SQLCheckError(f"cannot connect to PostgreSQL: {_first_line(e)}") from None
    try:
        await conn.set_read_only(True)
        async with conn.cursor() as cur:
            await cur.execute("select set_config('statement_timeout', %s, true)",
                              (str(max(1, int(timeout_s * 1000))),))
            try:
                await cur.execute(query)  # type: ignore[arg-type]  # the configured text is the query
            except psycopg.errors.QueryCanceled:
                raise SQLCheckError(timed_out(timeout_s)) from None
            except psycopg.Error as e:
                raise SQLCheckError(f"the query failed: {_first_line(e)}") from None
            if cur.description is None:
                raise CheckResultError("the statement returned no rows: a check runs a SELECT")
            columns = [c.name for c in cur.description]
            rows = await cur.fetchall()
        return rows_outcome(columns, rows, time.monotonic() - start)
    finally:
        try:
            await conn.rollback()
        finally:
            await conn.close()


# -- MariaDB / MySQL ------------------------------------------------------------------------


def _mysql_args(text: str, timeout_s: float) -> dict[str, Any]:
    u = urlsplit(text)
    q = {k: v[-1] for k, v in parse_qs(u.query).items()}
    args: dict[str, Any] = {
        "host": u.hostname or "localhost",
        "port": u.port or 3306,
        "user": unquote(u.username or ""),
        "password": unquote(u.password or ""),
        "database": unquote(u.path.lstrip("/")) or None,
        "connect_timeout": max(1, math.ceil(timeout_s)),
        # the server's statement timeout stops the query; this stops a server that went silent
        "read_timeout": math.ceil(timeout_s) + 2,
        "charset": q.get("charset", "utf8mb4"),
    }
    if "unix_socket" in q:
        args["unix_socket"] = q["unix_socket"]
    return args


def query_mysql(dsn: DSN, query: str, timeout_s: float) -> Outcome:
    import pymysql

    start = time.monotonic()
    try:
        conn = pymysql.connect(**_mysql_args(dsn.reveal(), timeout_s))
    except pymysql.MySQLError as e:
        raise SQLCheckError(f"cannot connect to MySQL/MariaDB: {_mysql_message(e)}") from None
    try:
        with conn.cursor() as cur:
            version = str(conn.get_server_info())  # type: ignore[no-untyped-call]
            if "mariadb" in version.lower():
                cur.execute("SET SESSION max_statement_time = %s", (float(timeout_s),))
            else:
                cur.execute("SET SESSION max_execution_time = %s", (max(1, int(timeout_s * 1000)),))
            cur.execute("START TRANSACTION READ ONLY")
            try:
                cur.execute(query)
            except pymysql.MySQLError as e:
                code = e.args[0] if e.args else 0
                # 1969: MariaDB's max_statement_time; 3024: MySQL's max_execution_time
                if code in (1969, 3024):
                    raise SQLCheckError(timed_out(timeout_s)) from None
                raise SQLCheckError(f"the query failed: {_mysql_message(e)}") from None
            if cur.description is None:
                raise CheckResultError("the statement returned no rows: a check runs a SELECT")
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return rows_outcome(columns, rows, time.monotonic() - start)
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def _mysql_message(e: Exception) -> str:
    if len(e.args) >= 2:
        return f"({e.args[0]}) {e.args[1]}"
    return str(e)


# -- SQLite ---------------------------------------------------------------------------------


def sqlite_path(text: str, base_dir: str) -> str:
    """``sqlite:///relative/to/config.db`` or ``sqlite:////absolute/path.db``."""
    rest = text.split(":", 1)[1]
    path = rest[3:] if rest.startswith("///") else rest.lstrip("/")
    return path if os.path.isabs(path) else os.path.join(base_dir, path)


def query_sqlite(dsn: DSN, query: str, timeout_s: float, base_dir: str) -> Outcome:
    import sqlite3  # here: with its library it is 1 MiB resident, and only SQLite checks use it

    start = time.monotonic()
    path = sqlite_path(dsn.reveal(), base_dir)
    if not os.path.exists(path):
        raise SQLCheckError(f"the SQLite database {path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout_s)
    except sqlite3.Error as e:
        raise SQLCheckError(f"cannot open SQLite database {path}: {e}") from None
    deadline = start + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
    try:
        conn.execute("PRAGMA query_only = 1")
        try:
            cur = conn.execute(query)
            rows = cur.fetchall()
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e):
                raise SQLCheckError(timed_out(timeout_s)) from None
            raise SQLCheckError(f"the query failed: {e}") from None
        except sqlite3.Error as e:
            raise SQLCheckError(f"the query failed: {e}") from None
        if cur.description is None:
            raise CheckResultError("the statement returned no rows: a check runs a SELECT")
        return rows_outcome([d[0] for d in cur.description], rows, time.monotonic() - start)
    finally:
        conn.close()


def timed_out(timeout_s: float) -> str:
    return f"the query was stopped by the statement timeout ({timeout_s:g}s)"


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
