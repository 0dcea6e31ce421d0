"""Series for the audit's data-driven cases, loaded into an in-memory store.

One line per series, promqltest's ``load`` notation with the samples ending now::

    # step 15s                       sample spacing (default 15s)
    # type websocket_errors gauge    metadata, as /api/v1/metadata would give it
    # interval api 15s               the job's scrape interval (the targets API)
    # retention 2d                   the store's retention (runtimeinfo)
    up{job="api",instance="a:1"}  0x100         100 samples of 0
    http_requests_total{job="api"}  5+1x40       5, 6, 7, ... 44
    old_metric{job="w"}  3x3 ago=3h               three samples, the last 3 hours ago
    probe_ssl_earliest_cert_expiry{...}  now+864000x4  a timestamp 10 days from now
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from guardia.audit.live import LocalLive
from guardia.model import parse_duration
from guardia.model.labels import Labels
from guardia.promql import parse as parse_promql
from guardia.promql.engine import Engine
from guardia.promql.plan import VectorSelector
from guardia.storage.memory import MemoryStorage

_NOW = re.compile(r"^now([+-]\d+)x(\d+)$")
_VALUES = re.compile(r"^(-?[\d.]+(?:e[+-]?\d+)?)(?:([+-][\d.]+))?x(\d+)$")


def load(path: Path, now: float | None = None) -> LocalLive:
    now = now if now is not None else time.time()
    step_ms = 15_000
    types: dict[str, str] = {}
    intervals: dict[str, float] = {}
    retention: float | None = None
    store = MemoryStorage()
    end_ms = int(now * 1000)
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            words = line[1:].split()
            if words[0] == "step":
                step_ms = parse_duration(words[1])
            elif words[0] == "type":
                types[words[1]] = words[2]
            elif words[0] == "interval":
                intervals[words[1]] = parse_duration(words[2]) / 1000
            elif words[0] == "retention":
                retention = parse_duration(words[1]) / 1000
            continue
        ago_ms = 0
        sel, values = line.rsplit(None, 1)
        if values.startswith("ago="):
            ago_ms = parse_duration(values[4:])
            sel, values = sel.rsplit(None, 1)
        node = parse_promql(sel)
        assert isinstance(node, VectorSelector), sel
        labels = {m.name: m.value for m in node.matchers}
        rel = _NOW.match(values)
        if rel is not None:  # a timestamp relative to now (certificate expiries)
            values = f"{now + float(rel.group(1)):.0f}x{rel.group(2)}"
        m = _VALUES.match(values)
        assert m is not None, f"{path}: cannot read {values!r}"
        start, inc, n = float(m.group(1)), float(m.group(2) or 0), int(m.group(3))
        ts = [end_ms - ago_ms - (n - 1 - i) * step_ms for i in range(n)]
        store.add_series(Labels(labels), ts, [start + inc * i for i in range(n)])
    return LocalLive(store, Engine(), name="the test store", intervals=lambda: intervals,
                     retention_s=retention, metadata=types.get, now=lambda: now)
