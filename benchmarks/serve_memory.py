"""Resident memory of a full ``guardia serve`` against VictoriaMetrics scraping the same targets.

Issue #28's load: ``SERVE_MEMORY_TARGETS`` (default 50) local targets of ~2,000 series each plus
one Debian node exporter, scraped every 5 s by a full ``guardia serve`` (embedded store, rules,
UI, everything a default start runs) and by a single-node VictoriaMetrics with
``-promscrape.config`` pointing at the same prometheus.yml, at the same time.  The targets run
in a third process neither is charged for.

After ``SERVE_MEMORY_SECONDS`` (default 120) it prints, for both: RSS (as ``ps`` shows it), the
mean and peak RSS of 5 s samples over the second half (guardia's head holds one 4-minute window
of uncompressed samples, two while one is handed over to compression, so its RSS steps by
~18 MiB at 100,000 series depending on the moment), PSS, anonymous memory, and the series
each holds (so a side that fell behind shows); for guardia also its resident memory by mapping
(heap, thread arenas, anonymous, shared libraries); and the CPU seconds each spent from
guardia's readiness to the end (the same scrapes: compare them across versions).
``SERVE_MEMORY_SRC`` runs guardia from another checkout's ``src`` (to alternate two versions).
The last line is guardia's RSS divided by VictoriaMetrics's.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from benchmarks.scrape_e2e import (
    _cpu_seconds,
    _free_port,
    _wait,
    start_targets,
    start_victoria_metrics,
    target_ports,
)

TARGETS = int(os.environ.get("SERVE_MEMORY_TARGETS", "50"))
SECONDS = float(os.environ.get("SERVE_MEMORY_SECONDS", "120"))
SRC = Path(os.environ.get("SERVE_MEMORY_SRC", Path(__file__).resolve().parents[1] / "src"))


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and anonymous memory in MiB, from /proc (smaps_rollup sums every mapping)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Anonymous", "Shared_Clean", "Private_Dirty"):
            out[key] = int(rest.split()[0]) / 1024
    return out


_HEAP_MAX = 64 << 20  # glibc's thread heaps: reserved 64 MiB at a time, aligned to it


def by_mapping(pid: int, top: int = 8) -> str:
    """Resident MiB by what is mapped: [heap] (malloc's main arena), [thread arena] (glibc's
    other arenas, which worker threads allocate from), [anon] (Python's arenas, numpy's large
    arrays, the head's window buffers) and each shared library."""
    maps: list[tuple[int, int, str, str]] = []  # start, end, permissions, name
    kib: list[int] = []
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        p = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            lo, hi = (int(x, 16) for x in p[0].split("-"))
            maps.append((lo, hi, p[1], p[5].rsplit("/", 1)[-1] if len(p) > 5 else "[anon]"))
            kib.append(0)
        elif p[0] == "Rss:":
            kib[-1] = int(p[1])
    rss: Counter[str] = Counter()
    for i, (lo, hi, perm, name) in enumerate(maps):
        # a thread heap: a read-write start at a 64 MiB boundary, the rest of the reservation
        # (if any) following it unreadable
        nxt = maps[i + 1] if i + 1 < len(maps) else (0, 0, "", "")
        rest = nxt[0] == hi and nxt[2] == "---p" and nxt[1] - lo == _HEAP_MAX
        if name == "[anon]" and perm == "rw-p" and lo % _HEAP_MAX == 0 and (hi - lo == _HEAP_MAX or rest):
            name = "[thread arena]"
        rss[name] += kib[i]
    return ", ".join(f"{k} {v / 1024:.1f}" for k, v in rss.most_common(top))


def _query(base: str, q: str) -> float:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': q})}"
    with urllib.request.urlopen(url, timeout=60) as r:
        res = json.load(r)["data"]["result"]
    return float(res[0]["value"][1]) if res else 0.0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ready = t / "ports.json"
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(start_targets(TARGETS, ready))
            node_port = _free_port()
            procs.append(subprocess.Popen(["prometheus-node-exporter",
                                           f"--web.listen-address=127.0.0.1:{node_port}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            targets = ", ".join(f"'127.0.0.1:{p}'" for p in target_ports(ready))
            _wait(f"http://127.0.0.1:{node_port}/metrics")
            cfg = t / "prometheus.yml"
            cfg.write_text(
                "global: {scrape_interval: 5s, scrape_timeout: 4s}\n"
                "scrape_configs:\n"
                f"  - job_name: app\n    static_configs: [{{targets: [{targets}]}}]\n"
                f"  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
            )
            vm_port, g_port = _free_port(), _free_port()
            vm = start_victoria_metrics(t / "vm", vm_port, f"-promscrape.config={cfg}")
            procs.append(vm)
            g = subprocess.Popen(
                [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(cfg),
                 "--web.listen-address", f"127.0.0.1:{g_port}", "--storage.tsdb.path", str(t / "guardia"),
                 "--log.level", "warn"],
                stdout=subprocess.DEVNULL, stderr=(t / "guardia.log").open("wb"),
                env=dict(os.environ, PYTHONPATH=str(SRC)), cwd=t)
            procs.append(g)
            vm_url, g_url = f"http://127.0.0.1:{vm_port}", f"http://127.0.0.1:{g_port}"
            _wait(vm_url + "/health")
            _wait(g_url + "/-/ready")
            seen: dict[str, list[float]] = {"guardia": [], "vm": []}
            cpu0 = {"guardia": _cpu_seconds(g.pid), "vm": _cpu_seconds(vm.pid)}
            start = time.monotonic()
            end = start + SECONDS
            while time.monotonic() < end:
                time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                second_half = time.monotonic() - start >= SECONDS / 2
                for name, p in (("guardia", g), ("vm", vm)):
                    seen[name].append(memory(p.pid)["Rss"] if second_half else 0.0)
            peak = {k: max(v) for k, v in seen.items()}
            half = {k: statistics.mean([x for x in v if x]) for k, v in seen.items()}
            mem = {"guardia": memory(g.pid), "vm": memory(vm.pid)}
            cpu = {"guardia": _cpu_seconds(g.pid) - cpu0["guardia"], "vm": _cpu_seconds(vm.pid) - cpu0["vm"]}
            maps = by_mapping(g.pid)
            with urllib.request.urlopen(vm_url + "/internal/force_flush", timeout=30):
                pass
            series = {"guardia": _query(g_url, "count({job=~'app|node'})"),
                      "vm": _query(vm_url, "count({job=~'app|node'})")}
            load = os.getloadavg()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(f"load: {TARGETS} targets x ~2,000 series + node exporter every 5 s, full guardia serve and "
          f"VictoriaMetrics scraping at the same time; after {SECONDS:.0f} s; load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (shared 2-vCPU machine)")
    for name, label in (("guardia", "guardia"), ("vm", "victoria-metrics")):
        m = mem[name]
        print(f"{label}: RSS {m['Rss']:.0f} MiB (second half: mean {half[name]:.0f}, peak {peak[name]:.0f}), "
              f"PSS {m['Pss']:.0f}, "
              f"anonymous {m['Anonymous']:.0f}, series {series[name]:,.0f}, "
              f"CPU {cpu[name]:.1f} s from ready to the end")
    print(f"guardia resident by mapping (MiB): {maps}")
    print(f"{mem['guardia']['Rss'] / mem['vm']['Rss']:.2f}")


if __name__ == "__main__":
    main()
