"""End-to-end scraping cost: guardia vs Prometheus and VictoriaMetrics, same targets, same run.

50 local targets each serve a ~2,000-series exposition (counters, gauges, 12-bucket
histograms, values changing every scrape) and one Debian node exporter runs beside them.
guardia's scrape manager writing to the embedded TSDB (WAL included) runs in its own
process; Debian's Prometheus 2.42 and VictoriaMetrics 1.79 (``-promscrape.config``) scrape
the same targets with the same prometheus.yml.  All three scrape every 5 s for
``SCRAPE_E2E_SECONDS`` (default 60; the issue's full run is 120).  ``SCRAPE_E2E_VM=0``
leaves VictoriaMetrics out; ``SCRAPE_E2E_GUARDIA_SRC=DIR`` runs guardia from another source
tree (an older version, to compare versions in alternating runs).

Reported for each: CPU seconds (user+system of the process) per million samples appended,
and RSS at the end; then the ratios of guardia to each.  The target servers run in a process
that no side is charged for.

``--profile OUT`` runs guardia under ``py-spy record`` (sampling from outside, non-blocking)
and prints the share of guardia's samples per stage of the scrape path (see ``STAGES``);
the raw collapsed stacks are kept in OUT.  The profiled run's CPU figure is not the one to
quote (py-spy takes a core's share of its own).

The last line is guardia's CPU seconds per million samples.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.exposition import make_exposition

SECONDS = float(os.environ.get("SCRAPE_E2E_SECONDS", "60"))
TARGETS = int(os.environ.get("SCRAPE_E2E_TARGETS", "50"))
INTERVAL = os.environ.get("SCRAPE_E2E_INTERVAL", "5s")
WITH_VM = os.environ.get("SCRAPE_E2E_VM", "1") != "0"

# Stages of the scrape path, for --profile: a sample is charged to the stage of its innermost
# frame that a rule matches (rules tried in order for each frame; patterns are regexes over
# py-spy's "function (file:line)").
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("imports (start-up, before the CPU count starts)", (r"importlib",)),
    ("WAL fsync thread (blocked in fsync: wall time)", (r"WALWriter\._syncer", r"WALWriter\._sync_locked")),
    ("WAL framing + writes", (r"storage/tsdb/wal\.py", r"head_wal\.py")),
    ("head window compression", (r"head_compress\.py", r"head_layout\.py")),
    ("block cutting / truncation / GC", (r"compact\.py", r"head_truncate\.py", r"tsdb/block\.py",
                                          r"tsdb/chunks\.py", r"maintenance", r"garbage")),
    ("line by line: new series (parse, labels, index, series record)",
     (r"head_series\.py", r"tsdb/index\.py", r"\bresolve ", r"_ref_at", r"textparse\.py", r"model/labels\.py",
      r"encode_series", r"_series_record", r"Ingester\.ingest \(", r"Ingester\._plain_new",
      r"Ingester\._settle", r"seriescache\.py")),
    ("append + commit (head)", (r"head_append\.py", r"tsdb/head\.py", r"tsdb/db\.py")),
    ("parse (steady state: cached series)", (r"scrape/ingest\.py", r"scrape/fastpath\.py")),
    ("decompression", (r"_inflate",)),
    ("HTTP client", (r"scrape/http\.py", r"asyncio/streams\.py", r"asyncio/selector_events\.py")),
    ("staleness, report series, loop", (r"scrape/loop\.py",)),
    ("self-metrics / target state", (r"scrape/target\.py", r"scrape/manager\.py", r"metrics")),
    ("asyncio scheduling + timers", (r"asyncio/", r"selectors\.py")),
]


# -- target servers (own process) ------------------------------------------------------------


def serve_targets(n: int, ready: Path) -> None:
    bodies = [make_exposition(2000, seed).encode() for seed in range(16)]
    counter = [0]

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # serve a different set of values on every request
            counter[0] += 1
            body = bodies[counter[0] % len(bodies)]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ports = []
    for _ in range(n):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        srv.daemon_threads = True
        srv.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        ports.append(srv.server_address[1])
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ready.write_text(json.dumps(ports))
    while True:
        time.sleep(3600)


# -- guardia (own process) -------------------------------------------------------------------


async def _guardia(config_path: str, seconds: float, data_dir: str) -> dict[str, float]:
    from guardia.config import load_yaml
    from guardia.config.prometheus import parse_prometheus_config
    from guardia.scrape.manager import ScrapeManager
    from guardia.storage.tsdb import TSDB

    cfg, issues = parse_prometheus_config(load_yaml(config_path))
    assert cfg is not None, [str(i) for i in issues]
    db = TSDB.open(data_dir)
    lumps = _count_window_work(db.head)
    samples = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)

    mgr = ScrapeManager(db, poll_interval=5.0)

    def count(loop, duration, ok):  # type: ignore[no-untyped-def]
        nonlocal samples
        res = loop.last_result
        samples += 5 + (res.post_relabel if ok and res is not None else 0)

    mgr.apply_config(cfg)
    await mgr.sync()
    for lp in mgr.loops():
        lp.on_scrape = count
    task = asyncio.create_task(mgr.run())
    # The first 10 s hold every target's first scrape (all its series new) and second one.
    first = min(10.0, seconds / 3)
    await asyncio.sleep(first)
    ru_first = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(seconds / 3 - first)
    # Mid-point mark: the parent reads Prometheus's counters now, so the last two thirds
    # (every target past its first, uncached scrape) can be compared on their own.
    ru_mid = resource.getrusage(resource.RUSAGE_SELF)
    samples_mid = samples
    print("MARK", flush=True)
    await asyncio.sleep(seconds * 2 / 3)
    up = sum(1 for t in mgr.targets() if t.health == "up")
    await mgr.stop()
    task.cancel()
    db.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss = _rss_kib(os.getpid())
    cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    steady_cpu = ru.ru_utime + ru.ru_stime - ru_mid.ru_utime - ru_mid.ru_stime
    lumps["first_10s_cpu"] = ru_first.ru_utime + ru_first.ru_stime - ru0.ru_utime - ru0.ru_stime
    lumps["steady_faults"] = ru.ru_minflt - ru_mid.ru_minflt  # page faults (fresh memory touched)
    return {"cpu": cpu, "steady_cpu": steady_cpu, "steady_samples": samples - samples_mid,
            "samples": samples, "rss_kib": rss, "up": up, **lumps}


def _count_window_work(head: object) -> dict[str, float]:
    """The head's work at a 4-minute window's turn, counted as the run goes (calls and CPU
    seconds of the thread): the spill of the old window when the next opens and the
    compression of a window once it is quiet.  A 120 s run holds one turn or none, so this
    says whether a run's figure includes that lump (about 0.1-0.2 and 0.5 CPU s at 100,000
    series).  The names are looked up on the head as the running code has them."""
    out: dict[str, float] = {}
    for name, key in (("_vacate_before", "turns"), ("finalize", "compressions")):
        f = getattr(head, name, None)
        if f is None:
            continue
        out[key] = out[key + "_cpu"] = 0.0

        def counted(*args: object, _f: Callable[..., object] = f, _k: str = key) -> object:
            if _k == "turns" and not getattr(head, "windows", None):
                return _f(*args)  # the first window: nothing to spill
            t0 = time.thread_time()
            try:
                return _f(*args)
            finally:
                out[_k] += 1
                out[_k + "_cpu"] += time.thread_time() - t0

        setattr(head, name, counted)
    return out


def _rss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    # utime, stime, cutime, cstime (children that were waited for)
    return sum(int(x) for x in fields[11:15]) / tick


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start_targets(n: int, ready: Path) -> subprocess.Popen[bytes]:
    """``n`` local targets (this module's ``--serve``) in a process of their own; their ports
    are written to ``ready`` once they listen (``target_ports``)."""
    return subprocess.Popen([sys.executable, "-m", "benchmarks.scrape_e2e", "--serve", str(n), str(ready)])


def target_ports(ready: Path) -> list[int]:
    """The targets' ports, once ``start_targets`` has written them."""
    while not ready.exists():
        time.sleep(0.1)
    time.sleep(0.2)
    ports: list[int] = json.loads(ready.read_text())
    return ports


def start_victoria_metrics(data: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """VictoriaMetrics with its data in ``data``, on 127.0.0.1:``port`` (``/health`` says ready)."""
    return subprocess.Popen(
        ["victoria-metrics", f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}",
         *extra, "-retentionPeriod=100y", "-loggerLevel=ERROR"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _metric_sum(base: str, name: str) -> float:
    """A counter's value (all its series added), read from a server's own /metrics."""
    from guardia.model.textparse import parse

    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(s.value for s in parse(text).samples if s.name == name)


def _prom_samples(base: str) -> float:
    """Samples Prometheus appended so far, read from its own /metrics (it does not scrape itself)."""
    return _metric_sum(base, "prometheus_tsdb_head_samples_appended_total")


def _vm_samples(base: str) -> float:
    """Rows VictoriaMetrics added to its storage so far (it does not scrape itself here)."""
    return _metric_sum(base, "vm_rows_added_to_storage_total")


def stage_breakdown(collapsed: Path) -> list[tuple[str, float]]:
    """Share of py-spy's samples per stage, from its collapsed ("raw") output.  Start-up
    imports (before guardia's CPU count starts) and the WAL fsync thread (a thread blocked
    in fsync looks busy to a sampler, but spends little CPU) are listed on their own and
    left out of the shares of the scrape path."""
    import re

    rules = [(name, [re.compile(p) for p in pats]) for name, pats in STAGES]
    counts: dict[str, int] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        stage = next((name for f in reversed(stack.split(";")) for name, pats in rules
                      if any(p.search(f) for p in pats)), "other")
        counts[stage] = counts.get(stage, 0) + int(n)
    aside = (STAGES[0][0], STAGES[1][0])
    total = max(1, sum(v for k, v in counts.items() if k not in aside))
    path = sorted(((k, v / total) for k, v in counts.items() if k not in aside), key=lambda kv: -kv[1])
    return path + [(f"({k}: {counts.get(k, 0) / total * 100:.1f} % more, not in the shares)", 0.0)
                   for k in aside]


class _Peer:
    """A Go server scraping the same targets: its CPU and its own count of samples stored."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], base: str,
                 samples: Callable[[str], float]) -> None:
        self.name, self.proc, self.base, self._samples = name, proc, base, samples
        self.marks: list[tuple[float, float]] = []

    def mark(self) -> None:
        self.marks.append((_cpu_seconds(self.proc.pid), self._samples(self.base)))

    def figures(self) -> dict[str, float]:
        (c0, s0), (cm, sm), (c1, s1) = self.marks
        return {"cpu": c1 - c0, "samples": s1 - s0, "steady_cpu": c1 - cm, "steady_samples": s1 - sm,
                "rss_kib": _rss_kib(self.proc.pid)}


def main() -> None:
    profile = Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--profile" else None
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ready = t / "ports.json"
        servers = start_targets(TARGETS, ready)
        node_port = _free_port()
        node = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs = [servers, node]
        peers: list[_Peer] = []
        try:
            ports = target_ports(ready)
            _wait(f"http://127.0.0.1:{node_port}/metrics")
            targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
            config = (
                f"global: {{scrape_interval: {INTERVAL}, scrape_timeout: 4s}}\n"
                "scrape_configs:\n"
                f"  - job_name: app\n    static_configs: [{{targets: [{targets}]}}]\n"
                f"  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
            )
            (t / "prometheus.yml").write_text(config)
            # The peers start with no targets and are given them (a config reload) when
            # guardia starts, so every side's first scrapes (all series created) fall inside
            # the measured window; before, a peer that started first had created part of its
            # series before its counters were read.
            (t / "peers.yml").write_text(f"global: {{scrape_interval: {INTERVAL}, scrape_timeout: 4s}}\n"
                                         "scrape_configs: []\n")
            prom_port = _free_port()
            prom = subprocess.Popen(
                ["prometheus", f"--config.file={t / 'peers.yml'}", f"--storage.tsdb.path={t / 'prom'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=error",
                 "--web.enable-lifecycle"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            procs.append(prom)
            peers.append(_Peer("prometheus", prom, f"http://127.0.0.1:{prom_port}", _prom_samples))
            if WITH_VM:
                vm_port = _free_port()
                vm = start_victoria_metrics(t / "vm", vm_port, f"-promscrape.config={t / 'peers.yml'}")
                procs.append(vm)
                peers.append(_Peer("victoriametrics", vm, f"http://127.0.0.1:{vm_port}", _vm_samples))
            _wait(peers[0].base + "/-/ready")
            for peer in peers[1:]:
                _wait(peer.base + "/health")
            for peer in peers:
                peer.mark()
            (t / "peers.yml").write_text(config)
            urllib.request.urlopen(urllib.request.Request(peers[0].base + "/-/reload", method="POST"),
                                   timeout=30).close()
            for peer in peers[1:]:
                peer.proc.send_signal(signal.SIGHUP)  # VictoriaMetrics re-reads -promscrape.config
            cmd = [sys.executable, "-m", "benchmarks.scrape_e2e", "--guardia", str(t / "prometheus.yml"),
                   str(SECONDS), str(t / "guardia")]
            if profile is not None:
                cmd = ["py-spy", "record", "--nonblocking", "--format", "raw", "--rate", "200",
                       "--output", str(profile), "--", *cmd]
            env = dict(os.environ)
            if os.environ.get("SCRAPE_E2E_GUARDIA_SRC"):
                env["PYTHONPATH"] = os.pathsep.join([os.environ["SCRAPE_E2E_GUARDIA_SRC"],
                                                     str(Path(__file__).resolve().parents[1])])
            g = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
            assert g.stdout is not None
            last = ""
            for line in g.stdout:
                if line.startswith("MARK"):
                    for peer in peers:
                        peer.mark()
                if line.startswith("{"):
                    last = line
            if g.wait() != 0:
                raise RuntimeError("the guardia process failed")
            ours = json.loads(last)
            for peer in peers:
                peer.mark()
            theirs = {peer.name: peer.figures() for peer in peers}
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
    names = ["guardia", *theirs]
    figs = {"guardia": ours, **theirs}
    per_m = {n: f["cpu"] / (f["samples"] / 1e6) for n, f in figs.items()}
    steady = {n: f["steady_cpu"] / (f["steady_samples"] / 1e6) for n, f in figs.items()}
    print(f"load: {TARGETS} targets x ~2,000 series + node exporter every {INTERVAL} for {SECONDS:.0f} s, "
          f"{', '.join(names)} at the same time (shared 2-core machine); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for n in names:
        f = figs[n]
        up = f", {f['up']} targets up" if "up" in f else ""
        if "first_10s_cpu" in f:
            up += (f"; first 10 s {f['first_10s_cpu']:.2f} CPU s; {f['steady_faults']:.0f} page faults in "
                   "the last two thirds")
        if "turns" in f:
            up += (f"; head window turns {f['turns']:.0f} ({f['turns_cpu']:.2f} CPU s), windows "
                   f"compressed {f['compressions']:.0f} ({f['compressions_cpu']:.2f} CPU s)")
        print(f"{n + ':':17}{f['samples']:>12,.0f} samples, {f['cpu']:6.1f} CPU s, {per_m[n]:.2f} CPU s per "
              f"million samples (steady state, last two thirds: {steady[n]:.2f}), "
              f"RSS {f['rss_kib'] / 1024:.0f} MiB{up}")
    for n in names[1:]:
        print(f"ratios guardia/{n}: CPU per sample {per_m['guardia'] / per_m[n]:.2f}x "
              f"(steady state {steady['guardia'] / steady[n]:.2f}x), "
              f"RSS {ours['rss_kib'] / figs[n]['rss_kib']:.2f}x")
    if profile is not None:
        print(f"guardia's py-spy samples by stage ({profile}):")
        for stage, share in stage_breakdown(profile):
            print(f"  {stage:64} {share * 100:5.1f} %" if share else f"  {stage}")
    print(f"{per_m['guardia']:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_targets(int(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--guardia":
        out = asyncio.run(_guardia(sys.argv[2], float(sys.argv[3]), sys.argv[4]))
        print(json.dumps(out))
    else:
        main()
