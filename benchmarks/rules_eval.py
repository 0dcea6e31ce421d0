"""Rule group evaluation: a recording rule over many series plus an alerting rule with
templated annotations firing for a share of them.

Runs on the embedded TSDB.  Prints the time of one group evaluation and the alerts
templated per second; the last line is the figure (group evaluations per second).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from guardia.config.rulefile import parse_rule_file
from guardia.config.yamlsource import parse_yaml
from guardia.model import Labels
from guardia.promql import Engine
from guardia.rules.group import GroupOptions
from guardia.rules.manager import build_group
from guardia.rules.query import engine_query_func
from guardia.storage.tsdb import TSDB

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
    tmp = tempfile.TemporaryDirectory()
    storage = TSDB.open(tmp.name)  # the embedded store `guardia serve` evaluates rules on
    now = int(time.time() * 1000) // 15_000 * 15_000
    times = [now - (40 - k) * 15_000 for k in range(41)]  # 10 minutes of 15s scrapes
    labels = []
    for i in range(SERIES):
        job = f"job{i % 20}"
        inst = f"host{i}:9100"
        labels.append((Labels({"__name__": "http_requests_total", "job": job,
                               "instance": inst}), None))
        labels.append((Labels({"__name__": "latency_seconds", "job": job, "instance": inst}),
                       0.9 if i < FIRING else 0.1))
    for k, t in enumerate(times):  # one batch per scrape, as the scrape loop appends
        app = storage.appender()
        refs = [app.ref(ls) for ls, _ in labels]
        vals = np.array([float(k * 10) if v is None else v for _, v in labels])
        app.append_batch(refs, t, vals)
        app.commit()
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
    storage.close()
    tmp.cleanup()
    print(f"series={SERIES} firing_alerts={FIRING} group_eval_ms={dt * 1000:.1f}")
    print(f"alerts templated per second: {FIRING / dt:.0f}")
    print(f"group evaluations per second: {1 / dt:.1f}")


if __name__ == "__main__":
    main()
