"""A real forward HTTP proxy (Debian's tinyproxy) on a free local port, for proxy_url tests.

The proxy's log names every request it forwards (``Request (file descriptor N): POST
http://host:port/path HTTP/1.1``), so a test can tell that a request went through it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"


@dataclass
class Proxy:
    url: str
    log: Path

    def forwarded(self) -> list[str]:
        """The request lines the proxy has forwarded so far."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [ln.split("): ", 1)[1] for ln in lines if "Request (file descriptor" in ln]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def tinyproxy(directory: Path) -> Iterator[Proxy]:
    if not Path(TINYPROXY).exists():
        pytest.skip("tinyproxy is not installed (scripts/system-packages.txt lists it)")
    port = free_port()
    conf = directory / "tinyproxy.conf"
    conf.write_text(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Info\nMaxClients 20\n"
                    "Allow 127.0.0.1\n")
    log = directory / "tinyproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tinyproxy did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
