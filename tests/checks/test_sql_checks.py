"""SQL checks against a real PostgreSQL and MariaDB (started by the tests) and SQLite: rows
become labelled values; the transaction is read-only; the statement timeout stops a slow query;
a bad DSN is reported with the check's name."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from guardia.checks.config import load_checks
from guardia.checks.service import CheckService
from tests.checks.dbservers import Server


def _service(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> CheckService:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    p = tmp_path / "guardia.yml"
    p.write_text(f"checks:\n{body}")
    svc = CheckService(None)
    svc.load(load_checks(str(p)))
    return svc


def _sql(name: str, query: str, env: str = "DB_DSN", timeout: str = "3s") -> str:
    return (f"  - name: {name}\n    timeout: {timeout}\n"
            f"    sql: {{dsn: {{from_env: {env}}}, query: \"{query}\"}}\n")


GROUPED = "select status, count(*) from orders group by status"


async def test_postgres_rows_timeout_and_read_only(pg: Server, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _service(tmp_path, _sql("orders", GROUPED) + _sql("slow", "select pg_sleep(5), 1", timeout="1s")
                   + _sql("write", "insert into orders (status) values ('x') returning id")
                   + _sql("one", "select 7"), monkeypatch, DB_DSN=pg.dsn)
    out = await svc.run_all()
    assert sorted(out["orders"].rows) == [((("status", "paid"),), 10.0), ((("status", "pending"),), 20.0)]
    assert out["one"].rows == (((), 7.0),)
    assert not out["slow"].ok and out["slow"].message in (
        "the query was stopped by the statement timeout (1s)", "timed out after 1s")
    assert not out["write"].ok and "read-only transaction" in out["write"].message


async def test_postgres_statement_timeout_is_the_servers(pg: Server, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The server stops the query (so nothing keeps running after guardia gave up)."""
    from guardia.checks.dsn import DSN
    from guardia.checks.sql import SQLCheckError, query_postgres
    from guardia.config.secrets import Secret

    t0 = time.monotonic()
    with pytest.raises(SQLCheckError, match="statement timeout"):
        await query_postgres(DSN("postgresql", Secret(pg.dsn)), "select pg_sleep(5)", 0.5)
    assert time.monotonic() - t0 < 3


async def test_bad_dsn_is_reported_with_the_checks_name(pg: Server, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = pg.dsn.replace("s3cr3t-check-pw", "wrong-password-1")
    svc = _service(tmp_path, _sql("orders_pending", GROUPED), monkeypatch, DB_DSN=wrong)
    out = await svc.run_once("orders_pending")
    assert not out.ok and out.message.startswith("cannot connect to PostgreSQL:")
    assert "password authentication failed" in out.message and "wrong-password-1" not in out.message
    st = svc.states["orders_pending"]
    assert st.check.name == "orders_pending" and st.last is out and st.failures == 1


async def test_mariadb_rows_timeout_and_read_only(maria: Server, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _service(tmp_path, _sql("orders", GROUPED) + _sql("slow", "select sleep(5), 1", timeout="1s")
                   + _sql("write", "insert into orders (status) values ('x')")
                   + _sql("ratio", "select 'shop' as db, avg(status = 'paid') from orders"),
                   monkeypatch, DB_DSN=maria.dsn)
    out = await svc.run_all()
    assert sorted(out["orders"].rows) == [((("status", "paid"),), 4.0), ((("status", "pending"),), 6.0)]
    assert out["ratio"].rows == (((("db", "shop"),), 0.4),)
    # MariaDB's SLEEP() is interrupted by max_statement_time and returns 1 instead of raising
    assert (not out["slow"].ok) or out["slow"].rows[0][1] == 1.0
    assert out["slow"].duration_s < 3
    assert not out["write"].ok and "READ ONLY" in out["write"].message


async def test_mariadb_long_query_hits_the_statement_timeout(maria: Server, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    heavy = ("select count(*) from information_schema.columns a, information_schema.columns b, "
             "information_schema.columns c")
    svc = _service(tmp_path, _sql("heavy", heavy, timeout="1s"), monkeypatch, DB_DSN=maria.dsn)
    out = await svc.run_once("heavy")
    assert not out.ok and out.message == "the query was stopped by the statement timeout (1s)"


async def test_mariadb_bad_dsn(maria: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _service(tmp_path, _sql("orders_pending", GROUPED), monkeypatch,
                   DB_DSN=maria.dsn.replace("s3cr3t-check-pw", "nope-nope-1"))
    out = await svc.run_once("orders_pending")
    assert not out.ok and out.message.startswith("cannot connect to MySQL/MariaDB: (1045) Access denied")


async def test_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table django_session (session_key text, expire_date text)")
        conn.executemany("insert into django_session values (?, ?)", [(str(i), "x") for i in range(25)])
    body = ("  - name: sessions\n"
            "    sql: {dsn: 'sqlite:///app.db', query: 'select count(*) from django_session'}\n"
            "  - name: write\n    sql: {dsn: 'sqlite:///app.db', query: \"delete from django_session\"}\n"
            "  - name: slow\n    timeout: 1s\n"
            "    sql: {dsn: 'sqlite:///app.db', query: \"with recursive c(x) as "
            "(select 1 union all select x + 1 from c) select count(*) from c\"}\n"
            "  - name: missing\n    sql: {dsn: 'sqlite:///nope.db', query: select 1}\n")
    svc = _service(tmp_path, body, monkeypatch)
    out = await svc.run_all()
    assert out["sessions"].rows == (((), 25.0),)
    assert not out["write"].ok and "readonly" in out["write"].message.replace("-", "").replace(" ", "")
    assert not out["slow"].ok and out["slow"].message == "the query was stopped by the statement timeout (1s)"
    assert not out["missing"].ok and "does not exist" in out["missing"].message
