"""Rule group evaluation: a recording rule over many series plus an alerting rule with
templated annotations firing for a share of them.

Prints the time of one group evaluation and the alerts templated per second; the last line
is the figure (group evaluations per second).
"""

from __future__ import annotations

import time

from guardia.config.rulefile import parse_rule_file
from guardia.config.yamlsource import parse_yaml
from guardia.model import Labels
from guardia.promql import Engine
from guardia.rules.group import GroupOptions
from guardia.rules.manager import build_group
from guardia.rules.query import engine_query_func
from guardia.storage.memory import MemoryStorage

SERIES = 2000
FIRING = 200
RULES = """
groups:
  - name: bench
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - alert: HighLatency
        expr: latency_seconds > 0.5
        for: 5m
        labels: {severity: warning}
        annotations:
          summary: '{{ $labels.instance }} is slow: {{ $value | humanizeDuration }}'
          description: 'p95 on {{ $labels.instance }} of {{ $labels.job }} is {{ printf "%.2f" $value }}s'
"""


def main() -> None:
    storage = MemoryStorage()
    times = [i * 15_000 for i in range(41)]  # 10 minutes of 15s scrapes
    for i in range(SERIES):
        job = f"job{i % 20}"
        inst = f"host{i}:9100"
        storage.add_series(Labels({"__name__": "http_requests_total", "job": job,
                                   "instance": inst}), times, [float(k * 10) for k in
                                                               range(len(times))])
        storage.add_series(Labels({"__name__": "latency_seconds", "job": job, "instance": inst}),
                           times, [0.9 if i < FIRING else 0.1] * len(times))
    rf, _ = parse_rule_file(parse_yaml(RULES, "bench.yml"))
    assert rf is not None
    opts = GroupOptions(storage=storage, query=engine_query_func(Engine(), storage),
                        run_in_thread=False)
    g = build_group("bench.yml", rf.groups[0], opts, 60_000, {}, "", restore=False)
    g.eval(times[-1])  # warm-up
    runs = 5
    t0 = time.perf_counter()
    for k in range(runs):
        g.eval(times[-1] + (k + 1) * 1000)
    dt = (time.perf_counter() - t0) / runs
    print(f"series={SERIES} firing_alerts={FIRING} group_eval_ms={dt * 1000:.1f}")
    print(f"alerts templated per second: {FIRING / dt:.0f}")
    print(f"group evaluations per second: {1 / dt:.1f}")


if __name__ == "__main__":
    main()
