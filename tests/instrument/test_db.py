"""Database, cache and task timings against real peers: a PostgreSQL and a Redis started by the
test, SQLAlchemy, psycopg 3, asyncpg, redis-py (sync and asyncio), and a real Celery worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from guardia.instrument.db import (
    DbMetrics,
    instrument_asyncpg,
    instrument_psycopg,
    instrument_redis,
    instrument_sqlalchemy,
    redis_operation,
    sql_operation,
)
from tests.instrument.asgi_driver import value
from tests.instrument.peers import postgres, redis_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres() as url:
        yield url


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _metrics() -> tuple[DbMetrics, CollectorRegistry]:
    reg = CollectorRegistry()
    return DbMetrics(reg), reg


def count(reg: CollectorRegistry, system: str, op: str) -> float:
    return value(generate_latest(reg).decode(), "db_client_operation_duration_seconds_count",
                 db_system=system, db_operation=op)


def errors(reg: CollectorRegistry, system: str, op: str, kind: str) -> float:
    return value(generate_latest(reg).decode(), "db_client_errors_total",
                 db_system=system, db_operation=op, type=kind)


def test_operations_come_from_a_fixed_vocabulary() -> None:
    assert sql_operation("  select 1") == "SELECT"
    assert sql_operation(b"(SELECT 1) UNION (SELECT 2)") == "SELECT"
    assert sql_operation("DROP TABLE x;") == "DROP"
    assert sql_operation("/* comment */ SELECT 1") == "OTHER"
    assert sql_operation("hello world") == "OTHER"
    assert redis_operation(b"get") == "GET"
    assert redis_operation("CLIENT SETNAME") == "CLIENT"
    assert redis_operation("x" * 40) == "OTHER"


def test_sqlalchemy_statements_and_errors(pg_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ProgrammingError

    m, reg = _metrics()
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    instrument_sqlalchemy(engine, m)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS sa_items (id int)"))
        conn.execute(text("INSERT INTO sa_items VALUES (1), (2)"))
        assert conn.execute(text("SELECT count(*) FROM sa_items")).scalar() == 2
        assert conn.execute(text("SELECT pg_sleep(0.05)")).scalar() == ""
    with pytest.raises(ProgrammingError), engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    engine.dispose()
    assert count(reg, "postgresql", "SELECT") >= 3
    assert count(reg, "postgresql", "INSERT") == 1
    assert count(reg, "postgresql", "CREATE") == 1
    assert errors(reg, "postgresql", "SELECT", "UndefinedTable") == 1
    text_out = generate_latest(reg).decode()
    # the pg_sleep(0.05) statement landed above the 0.025 s bucket
    slow = value(text_out, "db_client_operation_duration_seconds_bucket", db_system="postgresql",
                 db_operation="SELECT", le="0.025")
    assert slow <= count(reg, "postgresql", "SELECT") - 1


def test_psycopg_sync_and_async(pg_url: str) -> None:
    import psycopg

    m, reg = _metrics()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        instrument_psycopg(conn, m)
        conn.execute("SELECT 1")
        with conn.cursor() as cur:
            cur.executemany("SELECT %s", [(1,), (2,)])
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("DELETE FROM nothing_here")

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as aconn:
            instrument_psycopg(aconn, m)
            await aconn.execute("SELECT 2")
            await aconn.execute("UPDATE pg_class SET relname = relname WHERE false")

    asyncio.run(run())
    assert count(reg, "postgresql", "SELECT") == 3
    assert count(reg, "postgresql", "UPDATE") == 1
    assert errors(reg, "postgresql", "DELETE", "UndefinedTable") == 1


def test_asyncpg_query_logger(pg_url: str) -> None:
    import asyncpg

    m, reg = _metrics()

    async def run() -> None:
        conn = await asyncpg.connect(pg_url)
        instrument_asyncpg(conn, m)
        assert await conn.fetchval("SELECT 40 + 2") == 42
        await conn.execute("CREATE TEMP TABLE t (x int)")
        await conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(asyncpg.UndefinedTableError):
            await conn.fetch("SELECT * FROM missing_table")
        await conn.close()

    asyncio.run(run())
    assert count(reg, "postgresql", "SELECT") == 2
    assert count(reg, "postgresql", "INSERT") == 1
    assert errors(reg, "postgresql", "SELECT", "UndefinedTableError") == 1


def test_redis_commands_and_pipelines_sync_and_asyncio(redis_url: str) -> None:
    import redis
    import redis.asyncio

    m, reg = _metrics()
    r = instrument_redis(redis.Redis.from_url(redis_url), m)
    r.set("k", "v")
    assert r.get("k") == b"v"
    pipe = r.pipeline()
    pipe.incr("n").incr("n")
    assert pipe.execute() == [1, 2]
    with pytest.raises(redis.ResponseError):
        r.lpush("k", "x")  # wrong type
    r.close()

    async def run() -> None:
        ar = instrument_redis(redis.asyncio.Redis.from_url(redis_url), m)
        await ar.set("a", "1")
        assert await ar.get("a") == b"1"
        async with ar.pipeline() as p:
            p.incr("m")
            assert await p.execute() == [1]
        await ar.aclose()

    asyncio.run(run())
    assert count(reg, "redis", "SET") == 2
    assert count(reg, "redis", "GET") == 2
    assert count(reg, "redis", "PIPELINE") == 2
    assert errors(reg, "redis", "LPUSH", "ResponseError") == 1


def _keep_logging(**_: object) -> None:
    return None


def test_celery_tasks_by_state_with_a_real_worker(tmp_path: Path) -> None:
    from celery import Celery, signals
    from celery.contrib.testing.worker import start_worker

    from guardia.instrument.celery_tasks import instrument_celery

    reg = CollectorRegistry()
    metrics = instrument_celery(reg)
    app = Celery("t", broker="memory://", backend="cache+memory://")
    app.conf.update(task_always_eager=False, worker_hijack_root_logger=False)

    @app.task(name="reports.build")
    def build(n: int) -> int:
        return n * 2

    @app.task(name="reports.fail")
    def fail() -> None:
        raise ValueError("no data")

    # A receiver on setup_logging tells Celery to leave this process's logging alone (it would
    # otherwise reconfigure it and disable the loggers other tests capture).
    signals.setup_logging.connect(_keep_logging)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            assert build.delay(21).get(timeout=20) == 42
            assert build.delay(1).get(timeout=20) == 2
            with pytest.raises(ValueError):
                fail.delay().get(timeout=20)
    finally:
        signals.setup_logging.disconnect(_keep_logging)
        signals.task_prerun.disconnect(metrics.prerun)
        signals.task_postrun.disconnect(metrics.postrun)
    text = generate_latest(reg).decode()
    assert value(text, "celery_tasks_total", task="reports.build", state="SUCCESS") == 2
    assert value(text, "celery_tasks_total", task="reports.fail", state="FAILURE") == 1
    assert value(text, "celery_task_duration_seconds_count", task="reports.build") == 2
