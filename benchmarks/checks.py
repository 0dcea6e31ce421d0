"""Checks at scale: CPU per check run through the bounded pool, with results in the embedded TSDB.

500 Python checks (each returns a mapping of 10 label sets, like a SQL ``group by``) and 50
command checks (a shell-less Nagios-style plugin printing perfdata) run together through
``CheckService.run_all`` into a TSDB in a temp folder, five rounds; then the 30 s refresh
(every check's last result written again).  Prints guardia's CPU per Python check run last.

``python -m benchmarks.checks``
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import tempfile
import time
from pathlib import Path

from guardia.checks.config import load_checks
from guardia.checks.service import CheckService
from guardia.storage.tsdb import TSDB

PY_CHECKS, CMD_CHECKS, ROUNDS = 500, 50, 5

MODULE = """
def rows(n):
    return {(("status", f"s{i}"), ("shard", str(n % 7))): float(i * n) for i in range(10)}
"""
PLUGIN = "#!/bin/sh\necho \"OK - fine | load=0.5;1;2 mem=512MB;;;0 latency=12ms\"\nexit 0\n"


def main() -> None:
    d = Path(tempfile.mkdtemp(prefix="guardia-bench-checks-"))
    (d / "benchchecks.py").write_text(MODULE)
    plugin = d / "check_fake"
    plugin.write_text(PLUGIN)
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    lines = ["checks:"]
    for i in range(PY_CHECKS):
        lines.append(f"  - {{name: py{i}, python: {{function: 'benchchecks:rows', args: [{i}]}}, "
                     "warning: '> 50'}")
    for i in range(CMD_CHECKS):
        lines.append(f"  - {{name: cmd{i}, command: {{argv: ['{plugin}']}}}}")
    (d / "guardia.yml").write_text("\n".join(lines) + "\n")
    db = TSDB.open(d / "data")
    svc = CheckService(db, install_rules=lambda files: None, workers=8)
    svc.load(load_checks(str(d / "guardia.yml")))
    py = [n for n in svc.checks if n.startswith("py")]
    cmd = [n for n in svc.checks if n.startswith("cmd")]

    async def run(names: list[str]) -> None:
        results = await asyncio.gather(*(svc.run_once(n) for n in names))
        bad = [r.message for r in results if not r.ok]
        if bad:
            sys.exit(f"a check failed: {bad[0]}")

    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(ROUNDS):
        asyncio.run(run(py))
    py_wall, py_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(run(cmd))
    cmd_wall, cmd_cpu = time.perf_counter() - t0, time.process_time() - c0
    c0 = time.process_time()
    svc.refresh()
    refresh_cpu = time.process_time() - c0
    db.close()
    runs = PY_CHECKS * ROUNDS
    print(f"python checks: {runs} runs ({PY_CHECKS} checks x {ROUNDS}, 10 rows each) in "
          f"{py_wall:.2f} s wall, {py_cpu / runs * 1000:.3f} ms CPU per run")
    print(f"command checks: {CMD_CHECKS} plugin runs in {cmd_wall:.2f} s wall, "
          f"{cmd_cpu / CMD_CHECKS * 1000:.2f} ms CPU per run (guardia's side)")
    print(f"refresh of {len(svc.checks)} checks' last results: {refresh_cpu * 1000:.0f} ms CPU")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{py_cpu / runs * 1000:.3f} ms CPU per Python check run")


if __name__ == "__main__":
    main()
