"""`guardia serve` that cannot start: the error comes first, whole, on its own lines.

Run as a real subprocess with output going to a file (as under systemd or a container), which
is where word-wrapping at 80 columns and shutdown lines ahead of the error used to hurt.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "80"}
ENV.pop("FORCE_COLOR", None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp: Path, *args: str, listen: str | None = None) -> tuple[int, str]:
    log = tmp / "serve.log"
    with log.open("wb") as out:
        code = subprocess.run(
            [sys.executable, "-m", "guardia.cli.main", "serve", "--web.listen-address",
             listen or f"127.0.0.1:{_free_port()}", *args],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp, env=ENV, timeout=60,
        ).returncode
    return code, log.read_text()


def test_config_error_first_and_unwrapped(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    long_job = "a-job-name-long-enough-that-the-error-line-passes-eighty-columns-for-sure"
    cfg.write_text(f"scrape_configs:\n  - job_name: {long_job}\n    scrape_interval: 10 seconds\n"
                   "    static_configs: [{targets: ['127.0.0.1:1']}]\n")
    code, out = _serve(tmp_path, "--config", str(cfg), "--storage.tsdb.path", str(tmp_path / "d"))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "guardia serve: the configuration does not load", out
    assert "shutdown_started" not in out and "shutdown_complete" not in out
    error = next(line for line in lines if "scrape_interval" in line)
    assert error.startswith(f"{cfg}:3:") and "10 seconds" in error, out
    assert "\x1b[" not in out  # no colour codes in a file


def test_lock_names_the_holder_pid_and_the_flag(tmp_path: Path) -> None:
    data = tmp_path / "d"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from guardia.storage.tsdb import TSDB\n"
         f"db = TSDB.open(Path({str(data)!r})); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        code, out = _serve(tmp_path, "--storage.tsdb.path", str(data))
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    first = out.splitlines()[0]
    assert f"is in use by process {holder.pid} " in first, out
    assert "--storage.tsdb.path" in first
    assert "shutdown_started" not in out


def test_port_in_use_is_the_first_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        started = time.monotonic()
        code, out = _serve(tmp_path, "--storage.tsdb.path", str(tmp_path / "d"),
                           listen=f"127.0.0.1:{port}")
    assert code == 1, out
    assert out.splitlines()[0].startswith("guardia serve: "), out
    assert f"is another process using 127.0.0.1:{port}?" in out.splitlines()[0]
    assert "shutdown_started" not in out
    assert time.monotonic() - started < 60
