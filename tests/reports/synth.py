"""A service's metrics over five days with known answers, for the report's tests.

``api`` (two instances, scraped every minute) over a 4-day baseline and a 24 h window:

* latency histograms whose observations are drawn lognormal, 40% slower in the window;
  the expected quantiles are computed here from the bucket counts with numpy;
* 0.1% errors in the baseline, 0.5% in the window;
* an outage of instance a:1 (``up`` 0) from 10 h to 9 h 30 m before the end, and no data at
  all for a:2 from 5 h to 4 h before the end;
* a memory leak in a:1 (+4 MiB/h through the window), a:2 flat;
* a restart of a:2 3 h before the end;
* a request spike (x10) in the hour ending 2 h before the end;
* two alerts of known length: HighLatency (warning) 45 min, APIDown (critical) 30 min;
* one deployment of v2.0.1 20 h before the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from guardia.model import Labels

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
END = 1_760_000_000_000 - 1_760_000_000_000 % HOUR  # on the hour
WINDOW = DAY
BASELINE = 4 * DAY
START = END - WINDOW
FIRST = START - BASELINE - HOUR
LE = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
OUTAGE = (END - 10 * HOUR, END - 10 * HOUR + 30 * MIN)
GAP = (END - 5 * HOUR, END - 4 * HOUR)
RESTART = END - 3 * HOUR
SPIKE_HOUR_END = END - 2 * HOUR
LEAK_PER_HOUR = 4 * 2**20
ALERT_RUNS = {"HighLatency": (END - 8 * HOUR, 45 * MIN, "warning"),
              "APIDown": (OUTAGE[0], 30 * MIN, "critical")}
DEPLOY_AT = END - 20 * HOUR


@dataclass
class Dataset:
    series: dict[Labels, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    expected_quantiles: dict[float, float] = field(default_factory=dict)
    expected_baseline_quantiles: dict[float, float] = field(default_factory=dict)
    expected_error_rate: float = 0.0

    def add(self, labels: dict[str, str], t: np.ndarray, v: np.ndarray) -> None:
        self.series[Labels(labels)] = (np.asarray(t, dtype=np.int64), np.asarray(v, dtype=np.float64))


def histogram_quantile(q: float, bounds: list[float], cumulative: np.ndarray) -> float:
    """Prometheus's bucket interpolation, done with numpy: rank q x count, linear inside the
    bucket it falls in (the first bucket starts at 0)."""
    total = cumulative[-1]
    rank = q * total
    return float(np.interp(rank, np.concatenate(([0.0], cumulative[:-1])), [0.0, *bounds]))


def _in_range(t: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """Indexes of the first and last sample in (lo, hi], as a PromQL range selector reads."""
    i = int(np.searchsorted(t, lo, side="right"))
    j = int(np.searchsorted(t, hi, side="right")) - 1
    return i, j


# series whose values are times (seconds): they move with the data when it is shifted
TIME_VALUED = ("process_start_time_seconds", "guardia_deployment_info",
               "prometheus_rule_group_last_evaluation_timestamp_seconds")


def shifted(ds: Dataset, delta_ms: int) -> Dataset:
    """The same data ``delta_ms`` later (for a peer that keeps only recent data)."""
    out = Dataset(expected_quantiles=ds.expected_quantiles,
                  expected_baseline_quantiles=ds.expected_baseline_quantiles,
                  expected_error_rate=ds.expected_error_rate)
    for lb, (t, v) in ds.series.items():
        out.series[lb] = (t + delta_ms, v + delta_ms / 1000 if lb.name in TIME_VALUED else v)
    return out


def build(seed: int = 7) -> Dataset:
    rng = np.random.default_rng(seed)
    ds = Dataset()
    t = np.arange(FIRST, END + 1, MIN, dtype=np.int64)
    in_window = t > START
    api = {"job": "api"}
    inst = ("a:1", "a:2")

    # requests per minute: a daily wave, a spike, Poisson-free (known rates)
    hour_of_day = (t % DAY) / HOUR
    per_min = 600 + 200 * np.sin(2 * np.pi * hour_of_day / 24)
    spike = (t > SPIKE_HOUR_END - HOUR) & (t <= SPIKE_HOUR_END)
    per_min = np.where(spike, per_min * 10, per_min)
    err_ratio = np.where(in_window, 0.005, 0.001)
    errors = per_min * err_ratio
    ds.add({"__name__": "http_requests_total", **api, "status": "200"}, t, np.cumsum(per_min - errors))
    ds.add({"__name__": "http_requests_total", **api, "status": "500"}, t, np.cumsum(errors))

    # latency: 200 observations a minute, lognormal, 40% slower in the window
    n = 200
    scale = np.where(in_window, 0.06, 0.06 / 1.4)
    obs = rng.lognormal(0.0, 0.8, size=(t.size, n)) * scale[:, None]
    bounds = np.array(LE)
    per_bucket = np.stack([(obs <= b).sum(axis=1) for b in bounds] + [np.full(t.size, n)], axis=1)
    cum = np.cumsum(per_bucket, axis=0).astype(np.float64)
    for k, le in enumerate([*[f"{b:g}" for b in LE], "+Inf"]):
        ds.add({"__name__": "http_request_duration_seconds_bucket", **api, "le": le}, t, cum[:, k])
    ds.add({"__name__": "http_request_duration_seconds_count", **api}, t, cum[:, -1])
    i, j = _in_range(t, START, END)
    bi, bj = _in_range(t, START - BASELINE, START)
    for q in (0.5, 0.95, 0.99):
        ds.expected_quantiles[q] = histogram_quantile(q, LE, cum[j] - cum[i])
        ds.expected_baseline_quantiles[q] = histogram_quantile(q, LE, cum[bj] - cum[bi])
    err = np.cumsum(errors)
    tot = np.cumsum(per_min)
    ds.expected_error_rate = float((err[j] - err[i]) / (tot[j] - tot[i]))

    for name in inst:
        lab = {**api, "instance": name}
        up = np.ones(t.size)
        keep = np.ones(t.size, dtype=bool)
        if name == "a:1":
            up[(t >= OUTAGE[0]) & (t < OUTAGE[1])] = 0
        else:
            keep = ~((t > GAP[0]) & (t < GAP[1]))
        ds.add({"__name__": "up", **lab}, t[keep], up[keep])
        noise = rng.normal(0, 2**18, size=t.size)
        mem = 200 * 2**20 + noise
        if name == "a:1":
            mem = mem + np.where(in_window, (t - START) / HOUR * LEAK_PER_HOUR, 0.0)
        ds.add({"__name__": "process_resident_memory_bytes", **lab}, t[keep], mem[keep])
        cpu = np.cumsum(np.full(t.size, 6.0))
        ds.add({"__name__": "process_cpu_seconds_total", **lab}, t[keep], cpu[keep])
        start = np.full(t.size, (FIRST - DAY) / 1000)
        if name == "a:2":
            start[t >= RESTART] = RESTART / 1000
        ds.add({"__name__": "process_start_time_seconds", **lab}, t[keep], start[keep])

    for alert, (begin, length, severity) in ALERT_RUNS.items():
        at = np.arange(begin, begin + length, MIN, dtype=np.int64)
        ds.add({"__name__": "ALERTS", "alertname": alert, "alertstate": "firing", "severity": severity,
                **api}, at, np.ones(at.size))
    ds.add({"__name__": "prometheus_rule_group_last_evaluation_timestamp_seconds", "rule_group": "g"},
           t, t / 1000)
    ds.add({"__name__": "guardia_deployment_info", "service": "api", "version": "v2.0.1",
            "status": "success", "commit": "abc1234"}, np.array([DEPLOY_AT]), np.array([DEPLOY_AT / 1000]))
    return ds


def load_memory(ds: Dataset) -> object:
    from guardia.storage.memory import MemoryStorage

    store = MemoryStorage()
    for labels, (t, v) in ds.series.items():
        store.add_series(labels, t.tolist(), v.tolist())
    return store


def load_tsdb(ds: Dataset, path: str) -> None:
    """Into a guardia data directory as blocks, the way ``guardia tsdb create-blocks-from`` writes
    them (a report reads blocks and head alike)."""
    from pathlib import Path

    from guardia.storage.tsdb.backfill import ParsedFile, write_blocks

    labels = list(ds.series)
    sid = np.concatenate([np.full(ds.series[lb][0].size, i, dtype=np.int64) for i, lb in enumerate(labels)])
    ts = np.concatenate([ds.series[lb][0] for lb in labels])
    vs = np.concatenate([ds.series[lb][1] for lb in labels])
    write_blocks(ParsedFile(labels, sid, ts, vs), Path(path))
