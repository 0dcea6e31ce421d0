from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.checks import dbservers


@pytest.fixture(scope="session")
def pg() -> Iterator[dbservers.Server]:
    if dbservers.pg_bin("initdb") is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql, scripts/system-packages.txt)")
    with dbservers.postgres() as s:
        import psycopg

        with psycopg.connect(s.dsn, autocommit=True) as conn:
            conn.execute("create table orders (id serial primary key, status text not null)")
            conn.execute("insert into orders (status) select case when i % 3 = 0 then 'paid' "
                         "else 'pending' end from generate_series(1, 30) i")
        yield s


@pytest.fixture(scope="session")
def maria() -> Iterator[dbservers.Server]:
    import shutil

    if shutil.which("mariadb-install-db") is None:
        pytest.skip("MariaDB is not installed (Debian package mariadb-server, scripts/system-packages.txt)")
    with dbservers.mariadb() as s:
        import pymysql

        from guardia.checks.dsn import DSN
        from guardia.checks.sql import _mysql_args
        from guardia.config.secrets import Secret

        conn = pymysql.connect(**_mysql_args(DSN("mysql", Secret(s.dsn)).reveal(), 5))
        with conn.cursor() as cur:
            cur.execute("create table orders (id int auto_increment primary key, "
                        "status varchar(20) not null)")
            cur.executemany("insert into orders (status) values (%s)", [("paid",)] * 4 + [("pending",)] * 6)
        conn.commit()
        conn.close()
        yield s
