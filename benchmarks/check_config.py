"""How long `guardia check config` takes on the example configs, as a user runs it.

Runs the real command (a fresh Python process each time, so interpreter start-up and imports
are included) on every file of examples/grupo-gad and examples/cepcomunicacion, a few times,
and prints the median wall time of one invocation in seconds as the last line.  The issue's
target is under 0.5 s for the seed configs.

The package is byte-compiled first (``python -m compileall -q src``), as ``pip install .``
does for a user: an editable checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise
recompile every module on every run, which no installed guardia does.  CPU time of the
child (user + system) is reported beside wall time, since this machine's speed drifts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def example_files() -> list[str]:
    """The seeds' configuration files (rule unit tests under tests/ are not configuration)."""
    files: list[str] = []
    for d in ("grupo-gad", "cepcomunicacion"):
        files += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples" / d).rglob("*.yml")
                        if "tests" not in p.relative_to(ROOT / "examples" / d).parts)
    return files


def time_in_process(files: list[str]) -> tuple[float, float]:
    """(import seconds, check seconds) inside one fresh interpreter, without the CLI shell."""
    code = (
        "import sys, time\n"
        "t0 = time.perf_counter()\n"
        "from guardia.cli.check_config import collect\n"
        "from pathlib import Path\n"
        "t1 = time.perf_counter()\n"
        "collect([Path(f) for f in sys.argv[1:]])\n"
        "print(t1 - t0, time.perf_counter() - t1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *files], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def time_once(files: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one ``guardia check config`` run."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "guardia.cli.main", "check", "config", *files],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    after = os.times()
    if proc.returncode not in (0, 1):  # 1 = the examples' placeholders, as expected
        raise SystemExit(f"check config crashed:\n{proc.stderr}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return elapsed, cpu


def precompile() -> None:
    """Byte-compile the package, as installing it does."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)


def main() -> None:
    files = example_files()
    precompile()
    runs = [time_once(files) for _ in range(RUNS)]
    times = [wall for wall, _ in runs]
    cpus = [cpu for _, cpu in runs]
    imp, chk = time_in_process(files)
    print(f"files checked per run: {len(files)}; runs: {RUNS}; min {min(times):.3f}s, "
          f"median {statistics.median(times):.3f}s (CPU median {statistics.median(cpus):.3f}s)")
    print(f"in one process: importing the config loader {imp:.3f}s, checking the files {chk:.3f}s "
          "(the rest is interpreter start-up and the CLI)")
    print("guardia check config on the example configs, median seconds per invocation:")
    print(f"{statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
