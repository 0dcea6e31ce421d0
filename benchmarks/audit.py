"""How long one audit takes inside ``guardia serve``: GRUPO_GAD's files against a store of
GRUPO_GAD-shaped series (the API, PostgreSQL, Redis and node exporters on many instances).

The continuous audit runs this every 10 minutes and after each reload, in a worker thread; its
cost is what the serve loop gives up.  Prints the median seconds of one audit (in-process store
reads through ``LocalLive``, the same code as ``serve``) as the last line.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from guardia.audit.inputs import from_files
from guardia.audit.live import LocalLive
from guardia.audit.run import audit
from guardia.model.labels import Labels
from guardia.promql.engine import Engine
from guardia.storage.tsdb import TSDB

ROOT = Path(__file__).resolve().parents[1]
TEAM = ROOT / "examples" / "grupo-gad"
ENV = {"env": "production"}
FS = {"mountpoint": "/", "fstype": "ext4"}
METRICS = {
    "api": [("ggrt_active_connections", ENV), ("ggrt_send_errors_total", ENV)],
    "postgres": [("pg_stat_activity_count", {"datname": "gad", "state": s}) for s in ("active", "idle")]
    + [("pg_database_size_bytes", {"datname": "gad"}),
       ("pg_stat_activity_max_tx_duration", {"datname": "gad"})],
    "redis": [(n, {}) for n in ("redis_memory_used_bytes", "redis_memory_max_bytes",
                                "redis_evicted_keys_total")],
    "node": [("node_cpu_seconds_total", {"cpu": str(c), "mode": m})
             for c in range(4) for m in ("idle", "user")]
    + [("node_filesystem_avail_bytes", FS), ("node_filesystem_size_bytes", FS),
       ("node_memory_MemAvailable_bytes", {}), ("node_memory_MemTotal_bytes", {})],
}


def store(instances: int, path: Path) -> tuple[TSDB, int]:
    """guardia's own store (what ``serve`` audits), 20 samples a series at 15 s."""
    db = TSDB.open(path)
    now = int(time.time() * 1000)
    n = 0
    for k in range(20):
        app = db.appender()
        t = now - (19 - k) * 15_000
        for job, metrics in {**METRICS, "prometheus": [], "alertmanager": []}.items():
            for i in range(instances):
                base = {"job": job, "instance": f"{job}-{i}:9100"}
                for name, extra in [("up", {}), *metrics]:
                    app.append(Labels({"__name__": name, **base, **extra}), t, float(k))
                    n += k == 0
        app.commit()
    return db, n


def main() -> None:
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        db, n = store(instances, Path(tmp))
        inp = from_files([str(TEAM / "prometheus.yml"), str(TEAM / "alertmanager.yml")])
        times = []
        for _ in range(5):
            live = LocalLive(db, Engine(), retention_s=15 * 86400)  # a fresh one per run, as serve
            t0 = time.perf_counter()
            found = audit(inp, live)
            times.append(time.perf_counter() - t0)
        db.close()
    print(f"{n} series, {len(found)} findings; audit runs: " + ", ".join(f"{t:.2f}s" for t in times))
    print(f"{statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
