"""Several workers, one set of counters: real uvicorn and gunicorn, a worker killed mid-way."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.instrument.asgi_driver import samples, value
from tests.instrument.load import send
from tests.instrument.servers import children, free_port, server, uvicorn

PHASE = 150  # requests before and after the kill


def _kill_busiest_and_wait_for_replacement(master: int, served: dict[int, int]) -> int:
    victim = max(served, key=lambda p: served[p])
    before = set(children(master))
    assert victim in before, (victim, before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = set(children(master))
        if victim not in now and len(now - before) >= 1:
            return victim
        time.sleep(0.1)
    raise AssertionError(f"no replacement for worker {victim}: {children(master)}")


def _exact_after_kill(base: str, master: int, handler: str, mp: Path) -> None:
    served = send(base, [f"/work/{i}" for i in range(PHASE)])
    victim = _kill_busiest_and_wait_for_replacement(master, dict(served))
    time.sleep(1.0)  # the replacement imports the app
    served2 = send(base, [f"/work/{i}" for i in range(PHASE, 2 * PHASE)])
    assert victim not in served2
    text = httpx.get(base + "/metrics").text
    total = sum(v for (name, labels), v in samples(text).items()
                if name == "http_requests_total" and dict(labels).get("handler") == handler)
    assert total == 2 * PHASE, (total, served, served2)
    assert value(text, "http_requests_inprogress") in (0.0, 1.0)  # 1: the scrape itself
    live = {int(dict(labels)["pid"]) for (name, labels) in samples(text)
            if name == "process_cpu_seconds_total"}
    assert victim not in live
    # the dead worker's counters stay, its live gauges are gone
    assert list(mp.rglob(f"counter_{victim}.db"))
    assert not list(mp.rglob(f"gauge_live*_{victim}.db"))
    assert set(served2) <= live  # every worker serving now has its own process_* series


def test_uvicorn_two_workers_count_exactly_with_a_worker_killed_and_restart_from_zero(
        tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = uvicorn("tests.instrument.apps.fastapi_app:app", port, workers=2)
    with server(argv, port, tmp_path) as proc:
        _exact_after_kill(base, proc.pid, "/work/{n}", tmp_path / "mp")
    first = list((tmp_path / "mp").iterdir())
    assert len(first) == 1 and first[0].name.startswith(f"{proc.pid}-")
    # a new server run starts from zero, and the last run's directory goes
    with server(argv, port, tmp_path) as proc2:
        send(base, [f"/work/{i}" for i in range(10)])
        text = httpx.get(base + "/metrics").text
        assert value(text, "http_requests_total", handler="/work/{n}", method="GET", status="2xx") == 10
    assert [d.name.split("-")[0] for d in (tmp_path / "mp").iterdir()] == [str(proc2.pid)]


def test_gunicorn_django_two_workers_count_exactly_with_a_worker_killed(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:guardia.instrument.gunicorn_hooks",
            "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            "tests.instrument.apps.django_app:application"]
    with server(argv, port, tmp_path) as proc:
        _exact_after_kill(base, proc.pid, "/work/<int:n>", tmp_path / "mp")
