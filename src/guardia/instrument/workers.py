"""Several worker processes, one set of counters: prometheus_client's multiprocess mode, set up
without the user doing anything.

Each worker of ``uvicorn --workers N`` or gunicorn writes its samples to memory-mapped files in one
directory, and whichever worker answers a scrape sums them. What usually goes wrong, and what this
module takes care of:

- the directory must exist and be set in ``PROMETHEUS_MULTIPROC_DIR`` before the first metric is
  made: it is chosen when ``guardia.instrument`` is imported;
- it must start empty, or counters of the last run are added to this one: the directory is named
  after the server's master process *and its start time*, so a new server run always gets a new
  directory, and directories of masters that are gone are removed;
- a worker that dies must leave its counters (they count requests that happened) but not its
  live gauges: dead workers are marked at every scrape (any server) and by gunicorn's
  ``child_exit`` hook (``guardia.instrument.gunicorn``);
- process metrics (CPU, memory, file descriptors) make no sense summed: they are read from
  ``/proc`` for every live worker and exposed per worker with a ``pid`` label.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

ENV = "PROMETHEUS_MULTIPROC_DIR"
BASE_ENV = "GUARDIA_INSTRUMENT_DIR"  # where the per-run directories go (default: the temp dir)
_PID_FILE = re.compile(r"_(\d+)\.db$")


def base_dir() -> Path:
    return Path(os.environ.get(BASE_ENV) or Path(tempfile.gettempdir()) / "guardia-instrument")


def start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot), "" where /proc is absent.

    With the pid it names one process incarnation, so a reused pid never finds an old directory.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its master) answers signal 0 but is dead.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state not in ("Z", "X")


def master_pid() -> int | None:
    """The pid of the server master whose workers we are part of, or None in a lone process.

    uvicorn ``--workers`` spawns its workers (``multiprocessing`` knows the parent); gunicorn forks
    them (its worker module is loaded, the parent is the arbiter); gunicorn ``--preload`` imports
    the app in the arbiter itself, before any worker exists.
    """
    parent = multiprocessing.parent_process()
    if parent is not None and "uvicorn" in sys.modules and parent.pid is not None:
        return parent.pid
    if "gunicorn.workers.base" in sys.modules:
        return os.getppid()
    if "gunicorn.arbiter" in sys.modules:
        return os.getpid()
    return None


def run_dir(pid: int) -> Path:
    return base_dir() / f"{pid}-{start_time(pid) or 'x'}"


def remove_stale_dirs(keep: Path) -> None:
    """Directories of masters that are gone (or whose pid now names another process)."""
    base = keep.parent
    try:
        entries = list(base.iterdir())
    except OSError:
        return
    for d in entries:
        if d == keep or not d.is_dir():
            continue
        pid_s, _, started = d.name.partition("-")
        if not pid_s.isdigit():
            continue
        pid = int(pid_s)
        if not alive(pid) or (started != "x" and start_time(pid) != started):
            shutil.rmtree(d, ignore_errors=True)


def fresh_dir(path: Path) -> None:
    """Empty ``path`` (a server start with a fixed directory, e.g. gunicorn's ``on_starting``)."""
    if path.exists():
        for f in path.glob("*.db"):
            f.unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)


def enable(path: Path) -> None:
    """Switch prometheus_client to multiprocess values in this process, writing under ``path``.

    prometheus_client chooses the value class when it is imported; metrics made before this call
    keep in-process values and are not seen by other workers, so the app's own metric modules
    must be imported after ``guardia.instrument``.
    """
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def configure() -> Path | None:
    """Choose the mode once per process: the multiprocess directory in use, or None."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV])
        enable(path)
        return path
    pid = master_pid()
    if pid is None:
        return None
    path = run_dir(pid)
    enable(path)
    remove_stale_dirs(path)
    return path


_CHOSEN: dict[int, Path | None] = {}


def current_dir() -> Path | None:
    """``configure()``'s answer for this process, chosen again in a forked child."""
    pid = os.getpid()
    if pid not in _CHOSEN:
        _CHOSEN[pid] = configure()
    return _CHOSEN[pid]


def worker_pids(path: Path) -> set[int]:
    """Pids that have written metric files in ``path``."""
    pids = set()
    for f in os.listdir(path):
        m = _PID_FILE.search(f)
        if m:
            pids.add(int(m.group(1)))
    return pids


def mark_dead_workers(path: Path) -> list[int]:
    """Drop live gauges of workers that are gone (counters stay: they counted real requests)."""
    dead = []
    for pid in worker_pids(path):
        if not alive(pid):
            live = list(path.glob(f"gauge_live*_{pid}.db"))
            if live:
                mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
                dead.append(pid)
    return dead


class PerWorkerProcessCollector(Collector):
    """``process_*`` of every live worker in the directory, each with its ``pid`` label."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in sorted(worker_pids(self.path) | {os.getpid()}):
            if not alive(pid):
                continue
            for m in _one_process(pid):
                fam = families.get(m.name)
                if fam is None:
                    fam = families[m.name] = Metric(m.name, m.documentation, m.type)
                for s in m.samples:
                    fam.add_sample(s.name, {**s.labels, "pid": str(pid)}, s.value)
        return list(families.values())


def _one_process(pid: int) -> Iterator[Metric]:
    yield from ProcessCollector(pid=lambda: pid, registry=None).collect()
