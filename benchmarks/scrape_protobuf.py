"""Steady-state ingest of one target in the protobuf exposition format against the same
metrics in the text format.

The target exposes 1,000 counters (two labels) and 100 classic histograms (11 bounds and
+Inf, so 1,400 bucket/sum/count series): 2,400 float samples per scrape either way, with values
changing every scrape.  The protobuf body is encoded with guardia's own ``MetricFamily``
class (the wire format is the same whoever encodes it).  Each pass is what the scrape loop
does with a body: ``Ingester.ingest_proto`` against ``Ingester.ingest_body`` (the text path,
whose repeat fast path reads only the values of a body repeating the last one's lines), into
an appender that keeps nothing, so the figure is the parse alone.  The protobuf bodies repeat
their series too, so ``ingest_proto`` answers them by its own repeat path (``protofast``: a
second upb decode into a value-less skeleton, compared by digest, then one attribute read per
value); the full path (decode with upb, flatten to series, resolve through the per-target
cache), which every scrape whose series changed takes, is measured beside it by forgetting
the remembered shape before each scrape.  Median of the per-scrape CPU times; the last line
is protobuf (repeat path) samples per CPU second.
"""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.scrape_parse import NullAppender
from guardia.model.varint import encode_varint
from guardia.scrape.ingest import Ingester, IngestOptions
from guardia.scrape.protoingest import HistogramOptions
from guardia.scrape.protoparse import message_class

ROUNDS = int(os.environ.get("SCRAPE_PROTOBUF_ROUNDS", "100"))
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]


def bodies(seed: int) -> tuple[bytes, bytes]:
    """(protobuf, text) of the same state."""
    out = bytearray()
    lines = ["# TYPE app_requests_total counter"]
    mf = message_class()(name="app_requests_total", help="", type=0)
    for i in range(1000):
        v = float(seed * 7 + i)
        m = mf.metric.add()
        for k, val in (("handler", f"/h{i % 50}"), ("code", str(200 + i // 50))):
            lp = m.label.add()
            lp.name, lp.value = k, val
        m.counter.value = v
        lines.append(f'app_requests_total{{handler="/h{i % 50}",code="{200 + i // 50}"}} {v}')
    b = mf.SerializeToString()
    out += encode_varint(len(b)) + b
    mf = message_class()(name="app_latency_seconds", help="", type=4)
    lines.append("# TYPE app_latency_seconds histogram")
    for i in range(100):
        m = mf.metric.add()
        lp = m.label.add()
        lp.name, lp.value = "route", f"r{i}"
        h = m.histogram
        total = 0
        for j, ub in enumerate(BOUNDS):
            total += seed + j
            bk = h.bucket.add()
            bk.upper_bound, bk.cumulative_count = ub, total
            lines.append(f'app_latency_seconds_bucket{{route="r{i}",le="{ub}"}} {total}')
        h.sample_count, h.sample_sum = total, total * 0.3
        lines += [f'app_latency_seconds_bucket{{route="r{i}",le="+Inf"}} {total}',
                  f'app_latency_seconds_sum{{route="r{i}"}} {total * 0.3}',
                  f'app_latency_seconds_count{{route="r{i}"}} {total}']
    b = mf.SerializeToString()
    out += encode_varint(len(b)) + b
    return bytes(out), ("\n".join(lines) + "\n").encode()


def _median_cpu(fn: object, n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.process_time()
        fn(i)  # type: ignore[operator]
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main() -> None:
    pairs = [bodies(s) for s in range(8)]
    app = NullAppender()
    opts = HistogramOptions()
    proto = Ingester([("instance", "app:8000"), ("job", "app")], IngestOptions())
    text = Ingester([("instance", "app:8000"), ("job", "app")], IngestOptions())
    n = proto.ingest_proto(pairs[0][0], app, opts).refs.size
    assert n == text.ingest_body(pairs[0][1], False, app, 0).refs.size == 2400
    p = _median_cpu(lambda i: proto.ingest_proto(pairs[i % 8][0], app, opts), ROUNDS)
    t = _median_cpu(lambda i: text.ingest_body(pairs[i % 8][1], False, app, 0), ROUNDS)

    def full(i: int) -> None:  # a scrape after the series changed: full path, shape remembered
        proto._proto_repeat.clear()
        proto.ingest_proto(pairs[i % 8][0], app, opts)

    def plain(i: int) -> None:  # the full path alone (a target in back-off: series change every scrape)
        proto._proto_repeat.clear()
        proto._proto_repeat.wait = 1
        proto.ingest_proto(pairs[i % 8][0], app, opts)

    f = _median_cpu(full, ROUNDS)
    g = _median_cpu(plain, ROUNDS)
    print(f"body: protobuf {len(pairs[0][0])} bytes, text {len(pairs[0][1])} bytes; {n} samples; "
          f"{ROUNDS} steady-state scrapes each")
    print(f"text (repeat fast path): {n / t:,.0f} samples/CPU s ({t * 1000:.2f} ms per scrape)")
    print(f"protobuf, full path alone (back-off): {n / g:,.0f} samples/CPU s ({g * 1000:.2f} ms per scrape), "
          f"{g / t:.1f}x the text CPU")
    print(f"protobuf, full path + shape remembered (series changed): {f * 1000:.2f} ms per scrape")
    print(f"protobuf, repeat path: {n / p:,.0f} samples/CPU s ({p * 1000:.2f} ms per scrape), "
          f"{p / t:.1f}x the text CPU")
    print(f"{n / p:.0f}")


if __name__ == "__main__":
    main()
