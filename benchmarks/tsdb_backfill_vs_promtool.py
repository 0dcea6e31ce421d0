"""Backfill side by side with Prometheus: the same OpenMetrics file through
``promtool tsdb create-blocks-from openmetrics`` and ``guardia tsdb create-blocks-from
openmetrics``.

4,000 series (40 targets: HTTP counters, 12-bucket histograms, gauges, with realistic
jitter), 2 h at 15 s.  Both tools run as commands, one after the other, in the same run;
block bytes are everything in the block directories.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._data import openmetrics_text

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and "wal" not in f.parts)


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        om = root / "input.om"
        om.write_text(openmetrics_text(40, 480, seed=6))
        samples = 4000 * 480
        prom_s = run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om), str(root / "p")])
        guardia_s = run([sys.executable, "-m", "guardia.cli.main", "tsdb", "create-blocks-from",
                         "openmetrics", "--quiet", str(om), str(root / "g")])
        prom_b = dir_bytes(root / "p")
        guardia_b = dir_bytes(root / "g")
    print(f"promtool: {prom_b} bytes ({prom_b / samples:.2f} bytes/sample) in {prom_s:.1f}s")
    print(f"guardia:  {guardia_b} bytes ({guardia_b / samples:.2f} bytes/sample) in {guardia_s:.1f}s")
    print(f"tsdb_backfill_vs_promtool: size ratio {guardia_b / prom_b:.2f}, "
          f"time ratio {guardia_s / prom_s:.2f} (guardia/promtool)")


if __name__ == "__main__":
    main()
