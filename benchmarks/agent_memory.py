"""Memory of ten ``guardia serve --agent`` processes writing to one VictoriaMetrics, against one
full ``guardia serve`` with the same scrape config (also remote-writing there).

Every process scrapes the same ``AGENT_MEMORY_TARGETS`` targets (default 10) of ~2,000 series
each every 5 s and remote-writes to one real VictoriaMetrics, each with its own external label
so the series stay apart.  After ``AGENT_MEMORY_SECONDS`` (default 90) the RSS of each process
is read from /proc, and its PSS (shared pages split among the processes that map them: what
ten agents on one machine cost together, divided by ten) for information.  The last line is
the mean agent RSS divided by the full guardia's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.scrape_e2e import (
    _free_port,
    _rss_kib,
    _wait,
    start_targets,
    start_victoria_metrics,
    target_ports,
)

AGENTS = int(os.environ.get("AGENT_MEMORY_AGENTS", "10"))
TARGETS = int(os.environ.get("AGENT_MEMORY_TARGETS", "10"))
SECONDS = float(os.environ.get("AGENT_MEMORY_SECONDS", "90"))
SRC = Path(__file__).resolve().parents[1] / "src"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ready = t / "ports.json"
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(start_targets(TARGETS, ready))
            vm_port = _free_port()
            vm = f"http://127.0.0.1:{vm_port}"
            procs.append(start_victoria_metrics(t / "vm", vm_port))
            targets = ", ".join(f"'127.0.0.1:{p}'" for p in target_ports(ready))
            _wait(vm + "/health")
            env = dict(os.environ, PYTHONPATH=str(SRC))
            servers: dict[str, subprocess.Popen[bytes]] = {}
            for name in ["full", *(f"agent{i}" for i in range(AGENTS))]:
                cfg = t / f"{name}.yml"
                cfg.write_text(
                    "global: {scrape_interval: 5s, scrape_timeout: 4s, "
                    f"external_labels: {{replica: {name}}}}}\n"
                    f"scrape_configs:\n  - job_name: app\n    static_configs: [{{targets: [{targets}]}}]\n"
                    f"remote_write:\n  - url: {vm}/api/v1/write\n"
                )
                port = _free_port()
                mode = [] if name == "full" else ["--agent", "--storage.agent.path", str(t / name)]
                servers[name] = subprocess.Popen(
                    [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(cfg),
                     "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.path", str(t / name),
                     "--log.level", "warn", *mode],
                    stdout=subprocess.DEVNULL, stderr=(t / f"{name}.log").open("wb"), env=env, cwd=t)
                procs.append(servers[name])
                _wait(f"http://127.0.0.1:{port}/-/ready")
            time.sleep(SECONDS)
            rss = {name: _rss_kib(p.pid) / 1024 for name, p in servers.items()}
            pss = {name: _pss_kib(p.pid) / 1024 for name, p in servers.items()}
            q = urllib.parse.urlencode({"query": "count by (replica) ({job='app'})"})
            with urllib.request.urlopen(f"{vm}/api/v1/query?{q}", timeout=60) as r:
                res = json.load(r)["data"]["result"]
            series = {s["metric"]["replica"]: float(s["value"][1]) for s in res}
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
    agents = [v for k, v in rss.items() if k != "full"]
    mean = statistics.mean(agents)
    print(f"load: {TARGETS} targets x ~2,000 series every 5 s per process; {AGENTS} agents + 1 full guardia, "
          f"all remote-writing to one VictoriaMetrics; RSS after {SECONDS:.0f} s (shared 2-vCPU machine)")
    print(f"series in VictoriaMetrics per process: {sorted(set(series.values()))}")
    print(f"agent RSS: mean {mean:.0f} MiB, min {min(agents):.0f}, max {max(agents):.0f}; "
          f"full guardia RSS {rss['full']:.0f} MiB")
    pss_agents = [v for k, v in pss.items() if k != "full"]
    print(f"agent PSS (shared library pages split among the processes mapping them): mean "
          f"{statistics.mean(pss_agents):.0f} MiB; full guardia PSS {pss['full']:.0f} MiB "
          f"({statistics.mean(pss_agents) / pss['full']:.2f}x; the target is read on RSS)")
    print(f"{mean / rss['full']:.2f}")


def _pss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return float(line.split()[1])
    return 0.0


if __name__ == "__main__":
    main()
