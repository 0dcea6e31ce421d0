"""Realistic synthetic metrics shared by the storage benchmarks.

Each *target* exposes 100 series the way a small web service does: request counters that
grow by a Poisson-distributed amount each scrape, two 12-bucket latency histograms
(cumulative buckets, a float ``_sum``, a ``_count``), process gauges (memory in bytes,
open fds, goroutines), a float CPU counter, and application gauges with one decimal.
Targets are scraped every 15 s, each at its own phase, as Prometheus spreads them.
Values are generated a whole scrape round at a time with numpy (``Workload.step``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from guardia.model import Labels

F64 = npt.NDArray[np.float64]
LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
HANDLERS = ["/api/orders", "/api/users", "/login", "/health"]
STEP_MS = 15_000
START_MS = 1_700_000_000_000 - (1_700_000_000_000 % (6 * 3_600_000))  # aligned like compaction


def target_series(instance: str, job: str) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for h in HANDLERS:
        for m in ("GET", "POST"):
            for code in ("200", "404", "500"):
                lb = {"__name__": "http_requests_total", "handler": h, "method": m, "code": code}
                out.append(("ctr", lb))
    for h in HANDLERS[:2]:
        for le in LE:
            lb = {"__name__": "http_request_duration_seconds_bucket", "handler": h, "le": le}
            out.append(("bucket", lb))
        out.append(("hsum", {"__name__": "http_request_duration_seconds_sum", "handler": h}))
        out.append(("hcount", {"__name__": "http_request_duration_seconds_count", "handler": h}))
    out.append(("cpu", {"__name__": "process_cpu_seconds_total"}))
    out.append(("mem", {"__name__": "process_resident_memory_bytes"}))
    out.append(("int", {"__name__": "process_open_fds"}))
    out.append(("int", {"__name__": "go_goroutines"}))
    out.append(("mem", {"__name__": "go_memstats_heap_alloc_bytes"}))
    out.append(("const", {"__name__": "up"}))
    for i in range(10):
        out.append(("int", {"__name__": "app_queue_depth", "queue": f"q{i}"}))
    for i in range(10):
        out.append(("dec", {"__name__": "app_temperature_celsius", "sensor": f"s{i}"}))
    for i in range(10):
        out.append(("ctr", {"__name__": "db_queries_total", "pool": f"p{i % 2}", "op": f"op{i}"}))
    for i in range(100 - len(out)):
        out.append(("int", {"__name__": "app_connections", "pool": f"c{i}"}))
    return [(k, {**lb, "instance": instance, "job": job}) for k, lb in out]


class Workload:
    """``n_targets`` × 100 series; ``step()`` returns the next scrape's values of all series."""

    def __init__(self, n_targets: int, seed: int = 0, job_of: Callable[[int], str] | None = None) -> None:
        """``job_of(target)`` names each target's job (default: a third "worker", the rest "api")."""
        self.rng = np.random.default_rng(seed)
        kinds: list[str] = []
        self.labels: list[Labels] = []
        self.target: list[int] = []
        for t in range(n_targets):
            inst = f"10.0.{t // 250}.{t % 250}:8000"
            job = job_of(t) if job_of is not None else ("api" if t % 3 else "worker")
            for k, lb in target_series(inst, job):
                kinds.append(k)
                self.labels.append(Labels(lb))
                self.target.append(t)
        self.n = len(self.labels)
        self.n_targets = n_targets
        self.target_arr = np.array(self.target, dtype=np.int64)
        self.offsets = self.rng.integers(0, STEP_MS, size=n_targets)
        k = np.array(kinds)
        self.kind = k
        r = self.rng
        self.values = np.zeros(self.n)
        self.rate = r.lognormal(0.0, 1.5, size=self.n)  # per-second event rate
        self.values[k == "ctr"] = r.integers(0, 10**6, size=int((k == "ctr").sum()))
        self.values[k == "mem"] = r.integers(50, 500, size=int((k == "mem").sum())) * 2**20
        self.values[k == "int"] = r.integers(0, 200, size=int((k == "int").sum()))
        self.values[k == "dec"] = np.round(r.uniform(20, 60, size=int((k == "dec").sum())), 1)
        self.values[k == "const"] = 1.0
        self._hist = np.nonzero(k == "bucket")[0].reshape(-1, 12)
        self._hsum = np.nonzero(k == "hsum")[0]
        self._hcount = np.nonzero(k == "hcount")[0]
        self._probs = np.array([0.05, 0.1, 0.2, 0.25, 0.2, 0.1, 0.05, 0.03, 0.01, 0.005, 0.003, 0.002])
        self._mids = np.array([0.003, 0.007, 0.018, 0.04, 0.07, 0.17, 0.37, 0.75, 1.7, 3.7, 7.5, 15.0])

    def step(self) -> F64:
        r, k, v = self.rng, self.kind, self.values
        ctr = k == "ctr"
        v[ctr] += r.poisson(self.rate[ctr] * 15)
        cpu = k == "cpu"
        v[cpu] = np.round(v[cpu] + r.uniform(0.05, 0.6, size=int(cpu.sum())), 2)
        mem = k == "mem"
        v[mem] += r.integers(-64, 65, size=int(mem.sum())) * 4096
        ints = k == "int"
        v[ints] = np.maximum(0, v[ints] + r.integers(-2, 3, size=int(ints.sum())))
        dec = k == "dec"
        v[dec] = np.round(v[dec] + r.normal(0, 0.2, size=int(dec.sum())), 1)
        n_h = self._hist.shape[0]
        events = r.poisson(self.rate[self._hcount] * 15)
        per_bucket = r.multinomial(events, self._probs)
        v[self._hist] += np.cumsum(per_bucket, axis=1)
        v[self._hcount] += events
        v[self._hsum] += (per_bucket * self._mids).sum(axis=1) * r.uniform(0.9, 1.1, size=n_h)
        return v.copy()

    def scrape_times(self, k: int) -> npt.NDArray[np.int64]:
        """Timestamps of scrape round ``k`` per target."""
        return START_MS + k * STEP_MS + self.offsets


def om_series(lb: Labels) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in lb if k != "__name__")
    return f"{lb.name}{{{inner}}}" if inner else lb.name


def openmetrics_text(n_targets: int, n_steps: int, seed: int = 0) -> str:
    """An OpenMetrics exposition with timestamps: the backfill input."""
    w = Workload(n_targets, seed)
    names = [om_series(lb) for lb in w.labels]
    vals = np.empty((n_steps, w.n))
    for k in range(n_steps):
        vals[k] = w.step()
    types = {"http_requests_total": "counter", "db_queries_total": "counter",
             "process_cpu_seconds_total": "counter", "http_request_duration_seconds": "histogram"}
    out: list[str] = []
    by_family: dict[str, list[int]] = {}
    for i, lb in enumerate(w.labels):
        fam = lb.name
        for suffix in ("_bucket", "_sum", "_count", "_total"):
            if fam.endswith(suffix) and fam[: -len(suffix)] in types:
                fam = fam[: -len(suffix)]
        by_family.setdefault(fam, []).append(i)
    for fam, idx in by_family.items():
        out.append(f"# TYPE {fam} {types.get(fam, 'gauge')}")
        for i in idx:
            series = names[i]
            t0 = START_MS + int(w.offsets[w.target[i]])
            for k in range(n_steps):
                out.append(f"{series} {float(vals[k, i])!r} {(t0 + k * STEP_MS) / 1000:.3f}")
    out.append("# EOF")
    return "\n".join(out) + "\n"
