"""Real PostgreSQL and MariaDB servers for the SQL checks' tests, each in a temp dir on a free
127.0.0.1 port, started and stopped by the test session (never the system's services).

PostgreSQL will not run as root, so as root it runs as the ``postgres`` user the Debian
package creates; MariaDB runs as the current user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

PASSWORD = "s3cr3t-check-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@dataclass
class Server:
    dsn: str
    port: int
    dir: str


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--", *argv]


@contextlib.contextmanager
def postgres() -> Iterator[Server]:
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
    d = tempfile.mkdtemp(prefix="guardia-pg-")
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
    port = free_port()
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(pw, "postgres", "postgres")
    data = os.path.join(d, "data")
    subprocess.run(_as_postgres([initdb, "-D", data, "-U", "guardia", "--pwfile", pw,
                                 "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={d} -c fsync=off"
    subprocess.run(_as_postgres([pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(d, "log"), "-w",
                                 "start"]), check=True, capture_output=True)
    try:
        yield Server(f"postgresql://guardia:{PASSWORD}@127.0.0.1:{port}/postgres", port, d)
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def mariadb() -> Iterator[Server]:
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db")
    if not os.path.exists(server) or install is None:
        raise RuntimeError("MariaDB is not installed (Debian package mariadb-server)")
    d = tempfile.mkdtemp(prefix="guardia-mariadb-")
    data, sock = os.path.join(d, "data"), os.path.join(d, "sock")
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([install, "--no-defaults", f"--datadir={data}", *user, "--skip-test-db",
                    "--auth-root-authentication-method=normal"], check=True, capture_output=True)
    port = free_port()
    log = open(os.path.join(d, "log"), "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([server, "--no-defaults", f"--datadir={data}", *user, "--bind-address=127.0.0.1",
                             f"--port={port}", f"--socket={sock}", f"--pid-file={d}/pid",
                             "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--skip-name-resolve"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        import pymysql

        deadline = time.monotonic() + 60
        while True:
            try:
                conn = pymysql.connect(unix_socket=sock, user="root")
                break
            except pymysql.MySQLError as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(d, "log")) as f:
                        raise RuntimeError(f"MariaDB did not start: {f.read()[-2000:]}") from e
                time.sleep(0.2)
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER 'guardia'@'%' IDENTIFIED BY '{PASSWORD}'")
            cur.execute("CREATE DATABASE shop")
            cur.execute("GRANT ALL ON shop.* TO 'guardia'@'%'")
        conn.commit()
        conn.close()
        yield Server(f"mysql://guardia:{PASSWORD}@127.0.0.1:{port}/shop", port, d)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)
