"""The agent's ``/metrics`` writer (``guardia.web.metrics_text``) gives prometheus_client's
``generate_latest`` bytes, and ``guardia.web.light_client`` lets an agent use prometheus_client
without its ``__init__`` importing ``prometheus_client.exposition``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from guardia.web.metrics_text import CONTENT_TYPE, text_exposition

SRC = Path(__file__).resolve().parents[2] / "src"


class Custom:
    """Families as collectors hand them over: timestamps, gauge histograms, statesets, created."""

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily("custom_gauge", "with a timestamp", labels=["a"])
        g.add_metric(["1"], 5, timestamp=1700000000.123)
        g.add_metric(["2"], -0.0)
        yield g
        yield GaugeHistogramMetricFamily("queue_sizes", "a gauge histogram",
                                         buckets=[("1", 2), ("+Inf", 3)], gsum_value=4)
        yield CounterMetricFamily("restarts", "with created", value=7, created=123.0)
        yield StateSetMetricFamily("state", "a stateset", value={"up": True, "down": False})
        yield SummaryMetricFamily("latency", "a summary", count_value=3, sum_value=1.5)
        u = Metric("plain", "an unknown family", "unknown")
        u.add_sample("plain", {}, 1.0)
        yield u


def every_kind() -> CollectorRegistry:
    r = CollectorRegistry()
    c = Counter("requests_total", 'help with \\ a backslash,\na newline and "quotes"', ["code", "path"],
                registry=r)
    c.labels("200", 'quote " backslash \\ newline \n end').inc(3.5)
    c.labels("500", "").inc()
    Gauge("big", "large and special values", ["v"], registry=r)
    h = Histogram("duration_seconds", "histogram", ["handler"], registry=r,
                  buckets=(0.005, 0.1, 1, 1e7, 123456789.0))
    for v in (0.001, 0.5, 3, 2e8):
        h.labels("/metrics").observe(v)
    Summary("size_bytes", "summary", registry=r).observe(1024)
    Info("build", "info", registry=r).info({"version": "1.2.3", "revision": "ab\\c"})
    Enum("phase", "enum", states=["starting", "running"], registry=r).state("running")
    r.register(Custom())
    return r


def test_every_metric_kind_and_escape_gives_generate_latests_bytes() -> None:
    r = every_kind()
    g = r._names_to_collectors["big"]  # type: ignore[attr-defined]
    for i, v in enumerate((1e22, float("nan"), float("inf"), float("-inf"), -1234567.5, 1234567.0,
                           0.1 + 0.2, 5e-324, 1e6, 999999.0, 0.0, -0.0, 2**53 + 1.0)):
        g.labels(str(i)).set(v)
    assert text_exposition(r) == generate_latest(r)


def test_random_values_give_the_same_bytes() -> None:
    rng = random.Random(24)
    r = CollectorRegistry()
    g = Gauge("values", "random floats", ["i"], registry=r)
    for i in range(5000):
        v = rng.choice([rng.uniform(-1e9, 1e9), rng.expovariate(1e-3), 10 ** rng.uniform(-30, 30),
                        float(rng.randrange(-10**12, 10**12)), rng.random()])
        g.labels(str(i)).set(v)
    assert text_exposition(r) == generate_latest(r)


def test_the_content_type_is_prometheus_clients() -> None:
    assert CONTENT_TYPE == CONTENT_TYPE_LATEST


def test_a_name_outside_the_legacy_set_is_left_to_prometheus_client() -> None:
    r = CollectorRegistry()
    Gauge("dotted.name", "escaped by prometheus_client", registry=r).set(1)
    body = text_exposition(r)
    assert body == generate_latest(r) and b"dotted_name 1.0" in body


def test_the_process_collectors_give_the_same_lines() -> None:
    """Their values move between two calls (RSS, GC counts): the names and labels must not."""
    from guardia.web.selfmetrics import register_process_collectors

    r = CollectorRegistry()
    register_process_collectors(r)

    def shape(body: bytes) -> list[str]:
        return [line.rsplit(" ", 1)[0] for line in body.decode().splitlines()]

    assert shape(text_exposition(r)) == shape(generate_latest(r))


LIGHT = """
import json, sys
from guardia.web import light_client
assert light_client.install() and not light_client.install()
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, REGISTRY
from prometheus_client.core import GaugeMetricFamily
from guardia.web.selfmetrics import register_process_collectors
from guardia.web.metrics_text import text_exposition
r = CollectorRegistry()
register_process_collectors(r)
Counter("c", "c", registry=r).inc()
body = text_exposition(r)
light = sorted(m for m in sys.modules if m.startswith(("prometheus_client", "http.server", "wsgiref",
                                                     "urllib.request", "socketserver")))
default = sorted(REGISTRY._names_to_collectors)
from prometheus_client import generate_latest, start_http_server  # the rest: the real __init__
import prometheus_client
print(json.dumps({"light": light, "default": default, "body": body.decode(),
                  "exposition": "prometheus_client.exposition" in sys.modules,
                  "same": [s.rsplit(" ", 1)[0] for s in generate_latest(r).decode().splitlines()]
                          == [s.rsplit(" ", 1)[0] for s in body.decode().splitlines()],
                  "all": sorted(set(prometheus_client.__all__) - set(dir(prometheus_client)))}))
"""


def test_light_client_imports_no_exposition_until_a_caller_asks_for_it() -> None:
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["light"] and not [m for m in got["light"] if "exposition" in m or not m.startswith("prom")]
    assert "c_total 1.0" in got["body"] and "process_resident_memory_bytes" in got["body"]
    # asked for generate_latest, the package is what a plain import gives, every name of it
    assert got["exposition"] and got["same"] and got["all"] == []
    # the default registry holds what a plain ``import prometheus_client`` registers on it
    plain = subprocess.run([sys.executable, "-c", "import prometheus_client as p; "
                            "import json; print(json.dumps(sorted(p.REGISTRY._names_to_collectors)))"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert got["default"] == json.loads(plain.stdout)
