"""glibc malloc arenas of a serving process: a full server allocates from one, an agent from two,
and ``MALLOC_ARENA_MAX`` set by the operator wins.

Each case runs in a fresh interpreter (an arena limit holds only before threads allocate) and
counts the thread heaps in ``/proc/self/maps`` after worker threads have allocated: glibc maps
them as 64 MiB-aligned read-write starts of a 64 MiB reservation, which the main arena (the
``[heap]`` of ``brk``) is not.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import guardia.cli.serve_run as serve_run
from guardia.server import ServeOptions

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc arenas only")

SRC = str(Path(__file__).parents[2] / "src")

# Threads that allocate and hold blocks below the mmap threshold (so they come from an arena),
# then the number of thread heaps mapped.
PROBE = """
import sys, threading
from guardia.cli.serve_run import limit_malloc_arenas
if sys.argv[1] != "-":
    limit_malloc_arenas(int(sys.argv[1]))
held, started = [], threading.Barrier(5)
def work():
    held.append([bytearray(64 * 1024) for _ in range(16)])
    started.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
started.wait()
heaps, maps = 0, open("/proc/self/maps").read().splitlines()
for i, line in enumerate(maps):
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    nxt = maps[i + 1].split() if i + 1 < len(maps) else ["0-0", ""]
    nlo, nhi = (int(x, 16) for x in nxt[0].split("-"))
    if len(f) == 5 and f[1] == "rw-p" and lo % (64 << 20) == 0 and (
            hi - lo == 64 << 20 or (nlo == hi and nxt[1] == "---p" and nhi - lo == 64 << 20)):
        heaps += 1
for t in threads:
    t.join()
print(heaps)
"""


def _thread_heaps(arenas: str, env: dict[str, str] | None = None) -> int:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run_env.update(env or {}, PYTHONPATH=SRC)
    out = subprocess.run([sys.executable, "-c", PROBE, arenas], env=run_env, capture_output=True,
                         text=True, timeout=60, check=True)
    return int(out.stdout.strip())


def test_one_arena_keeps_worker_threads_in_the_main_heap() -> None:
    assert _thread_heaps("1") == 0
    assert _thread_heaps("2") == 1  # the comparison: a second arena is made and used
    assert _thread_heaps("-") >= 1  # glibc's default: an arena per thread, up to 8 per core


def test_the_operators_malloc_arena_max_wins() -> None:
    assert _thread_heaps("1", {"MALLOC_ARENA_MAX": "3"}) >= 1


@pytest.mark.parametrize(("agent", "arenas"), [(False, 1), (True, 2)])
def test_serve_limits_arenas_before_it_starts(agent: bool, arenas: int, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``run`` sets the limit first thing, one arena for a full server and two for an agent;
    a config that does not load ends the run with status 1 right after."""
    seen: list[int] = []
    monkeypatch.setattr(serve_run, "limit_malloc_arenas", seen.append)
    monkeypatch.setattr(serve_run, "fixed_mmap_threshold", lambda: None)
    cfg = tmp_path / "bad.yml"
    cfg.write_text("scrape_configs: [{job_name: }]\n")
    opts = ServeOptions(config_file=str(cfg), listen_address="127.0.0.1:0", storage_path=str(tmp_path / "d"),
                        agent=agent, agent_storage_path=str(tmp_path / "a"))
    assert serve_run.run(opts, "error") == 1
    assert seen == [arenas]
