"""A realistic exposition for scrape benchmarks: counters, gauges and 12-bucket histograms.

``make_exposition(n_lines, seed)`` returns text in the Prometheus text format with HELP/TYPE
lines and about ``n_lines`` sample lines; a different ``seed`` changes the values only, as
consecutive scrapes of one target do.
"""

from __future__ import annotations

BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
METHODS = ["GET", "POST", "PUT", "DELETE"]
CODES = ["200", "201", "204", "400", "404", "500"]


def make_exposition(n_lines: int = 2000, seed: int = 0) -> str:
    out: list[str] = []
    counters = int(n_lines * 0.3)
    gauges = int(n_lines * 0.2)
    hist_lines = n_lines - counters - gauges
    n_hist = max(1, hist_lines // 14)
    out.append("# HELP http_requests_total Requests served, by handler, method and code.")
    out.append("# TYPE http_requests_total counter")
    for i in range(counters):
        m, c = METHODS[i % 4], CODES[(i // 4) % 6]
        out.append(
            f'http_requests_total{{handler="/api/v1/resource{i // 24}",method="{m}",code="{c}"}} '
            f"{(i * 37 + seed * 11) % 100000}"
        )
    out.append("# HELP process_resident_memory_bytes Memory by component.")
    out.append("# TYPE process_resident_memory_bytes gauge")
    for i in range(gauges):
        out.append(f'process_resident_memory_bytes{{component="c{i}"}} {1.5e6 + i * 1024 + seed * 7.25}')
    out.append("# HELP http_request_duration_seconds Request latency.")
    out.append("# TYPE http_request_duration_seconds histogram")
    for h in range(n_hist):
        lbl = f'handler="/api/v1/endpoint{h}",method="{METHODS[h % 4]}"'
        cum = 0
        for j, b in enumerate(BOUNDS):
            cum += (h + j + seed) % 17
            out.append(f'http_request_duration_seconds_bucket{{{lbl},le="{b}"}} {cum}')
        out.append(f"http_request_duration_seconds_sum{{{lbl}}} {cum * 0.137:.3f}")
        out.append(f"http_request_duration_seconds_count{{{lbl}}} {cum}")
    return "\n".join(out) + "\n"
