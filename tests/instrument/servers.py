"""Real servers for the tests: uvicorn and gunicorn in their own processes on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


@contextmanager
def server(argv: Sequence[str], port: int, tmp: Path, env: dict[str, str] | None = None,
           ready_path: str = "/metrics") -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (cwd: the repo, PYTHONPATH: src and the repo) until the block ends."""
    full_env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
                "GUARDIA_INSTRUMENT_DIR": str(tmp / "mp"), **(env or {})}
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(list(argv), cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        try:
            wait_up(f"http://127.0.0.1:{port}{ready_path}", proc)
        except RuntimeError as e:
            log.flush()
            raise RuntimeError(f"{e}; its log:\n{(tmp / 'server.log').read_text()[-3000:]}") from None
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def uvicorn(app: str, port: int, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning"]


def children(pid: int) -> list[int]:
    """Worker pids of a master (direct children that are not its helper processes)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[1]) == pid and fields[0] not in "ZX":
                out.append(int(d.name))
    return out
