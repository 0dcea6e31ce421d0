"""Native against classic histograms *received*: remote write 1.0/2.0 and OTLP, CPU per histogram.

``native_histograms.py --via remote-write|remote-write-v2|otlp`` runs this.  The same
observations as ``native_histograms.py`` (``--series`` series, 240 scrapes 15 s apart, 20
populated buckets growing each scrape) are sent to a ``WriteReceiver`` or an
``OtlpReceiver`` appending to a fresh embedded TSDB (WAL included), once as native histograms
and once as classic ones.  Bodies are encoded (and snappy-compressed for remote write)
beforehand and not counted; decompression, decode, label lookup, append and commit are.

Remote write: batches of 2,000 samples as a Prometheus queue sends them, one TimeSeries per
sample (a histogram counts as one sample): native integer histograms (schema 3, as a
scraped one is sent), against classic histograms as 23 float series (20 ``_bucket`` bounds,
``+Inf``, ``_sum``, ``_count``).  OTLP: one request per scrape, as an SDK exports: an
exponential histogram per series (scale 3) against an explicit-bucket one with the same 20
bounds, which is stored classic (23 floats) and, with ``convert_histograms_to_nhcb``, as a
native histogram with custom buckets.

The last line is native / classic CPU.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from guardia.model import Labels
from guardia.model.histogram import FloatHistogram, exp_bound

SCRAPES = 240
STEP_MS = 15_000
T0 = 1_700_000_000_000
SCHEMA = 3
FIRST = 8
BATCH = 2_000


def _counts(series: int, k: int) -> np.ndarray:
    """Cumulative observations per bucket after scrape ``k``, as native_histograms' steady data."""
    base = np.arange(1, 21, dtype=np.int64)[None, :] * (1 + np.arange(series)[:, None] % 7)
    out: np.ndarray = base * (k + 1)
    return out


def _pod(i: int) -> str:
    return f"p{i}"


def rw_native(series: int, v2: bool) -> list[bytes]:
    """Compressed requests of integer native histograms, ``BATCH`` a request."""
    from guardia.storage.remote import encode_histograms, encode_v2
    from guardia.storage.remote.encode import compress, encode_labels

    labels = [Labels({"__name__": "rpc_seconds", "job": "api", "pod": _pod(i)}) for i in range(series)]
    fields = [encode_labels(ls) for ls in labels]
    pairs = [tuple(ls) for ls in labels]
    pending: list[tuple[int, int, FloatHistogram]] = []
    out: list[bytes] = []

    def flush() -> None:
        if v2:
            payload = encode_v2.encode_histograms([(pairs[i], [(t, h)]) for i, t, h in pending], None)
        else:
            payload = encode_histograms.encode_v1([(fields[i], [(t, h)]) for i, t, h in pending])
        out.append(compress(payload))
        pending.clear()

    for k in range(SCRAPES):
        c = _counts(series, k).astype(np.float64)
        total = c.sum(axis=1)
        t = T0 + k * STEP_MS
        for i in range(series):
            h = FloatHistogram(schema=SCHEMA, count=float(total[i]), sum=float(total[i]) * 3.0,
                               zero_threshold=2.0**-128,
                               positive={FIRST + j: float(x) for j, x in enumerate(c[i].tolist())})
            pending.append((i, t, h))
            if len(pending) == BATCH:
                flush()
    if pending:
        flush()
    return out


def rw_classic(series: int, v2: bool) -> list[bytes]:
    """Compressed requests of the same histograms as 23 float series each, ``BATCH`` a request."""
    from guardia.storage.remote.encode import PrefixTable, compress, encode_labels
    from guardia.storage.remote.encode_v2 import V2Encoder

    bounds = [*(repr(exp_bound(FIRST + j, SCHEMA)) for j in range(20)), "+Inf"]
    table, enc = PrefixTable(), V2Encoder()
    ref = 0
    for i in range(series):
        names = [("rpc_seconds_bucket", b) for b in bounds]
        for name, le in [*names, ("rpc_seconds_sum", ""), ("rpc_seconds_count", "")]:
            d = {"__name__": name, "job": "api", "pod": _pod(i)}
            if le:
                d["le"] = le
            ls = Labels(d)
            table.add(ref, encode_labels(ls))
            enc.add(ref, ls)
            ref += 1
    refs = list(range(ref))
    out: list[bytes] = []
    buf_r: list[int] = []
    buf_t: list[int] = []
    buf_v: list[float] = []

    def flush() -> None:
        payload = enc.encode(buf_r, buf_t, buf_v, None) if v2 else table.encode(buf_r, buf_t, buf_v)
        out.append(compress(payload))
        buf_r.clear()
        buf_t.clear()
        buf_v.clear()

    for k in range(SCRAPES):
        cum = np.cumsum(_counts(series, k), axis=1).astype(np.float64)
        vals = np.concatenate([cum, cum[:, -1:], cum[:, -1:] * 3.0, cum[:, -1:]], axis=1).reshape(-1).tolist()
        t = T0 + k * STEP_MS
        a = 0
        while a < len(refs):
            take = min(BATCH - len(buf_r), len(refs) - a)
            buf_r.extend(refs[a : a + take])
            buf_t.extend([t] * take)
            buf_v.extend(vals[a : a + take])
            a += take
            if len(buf_r) == BATCH:
                flush()
    if buf_r:
        flush()
    return out


def rw_ingest(path: Path, bodies: list[bytes], v2: bool) -> tuple[float, int]:
    """CPU seconds to receive ``bodies`` into a fresh store; the histogram or float samples
    written (as the ``X-Prometheus-Remote-Write-*-Written`` headers count them)."""
    from guardia.storage.remote import WriteReceiver
    from guardia.storage.tsdb import TSDB

    db = TSDB.open(path)
    rx = WriteReceiver(db)
    written = 0
    t0 = time.process_time()
    for body in bodies:
        if v2:
            s, h, _ = rx.ingest_compressed_v2(body)
            written += s + h
        else:  # 1.0 answers with the float samples written; the histograms are counted after
            written += rx.ingest_compressed(body)
    cpu = time.process_time() - t0
    if not v2:
        written += int(db.histograms.describe()[1])
    db.close()
    return cpu, written


def _otlp_attr(kv: Any, key: str, value: str) -> None:
    a = kv.add()
    a.key = key
    a.value.string_value = value


def otlp_bodies(series: int, exponential: bool) -> list[bytes]:
    """One ExportMetricsServiceRequest per scrape: an exponential histogram (scale 3) or an
    explicit-bucket one with the same 20 bounds per series."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    bounds = [exp_bound(FIRST + j, SCHEMA) for j in range(20)]
    out: list[bytes] = []
    for k in range(SCRAPES):
        c = _counts(series, k)
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        _otlp_attr(rm.resource.attributes, "service.name", "api")
        sm = rm.scope_metrics.add()
        m = sm.metrics.add()
        m.name, m.unit = "rpc", "s"
        t = (T0 + k * STEP_MS) * 1_000_000
        if exponential:
            m.exponential_histogram.aggregation_temporality = 2
            points = m.exponential_histogram.data_points
        else:
            m.histogram.aggregation_temporality = 2
            points = m.histogram.data_points
        for i in range(series):
            p = points.add()
            _otlp_attr(p.attributes, "pod", _pod(i))
            p.start_time_unix_nano, p.time_unix_nano = T0 * 1_000_000, t
            row = c[i].tolist()
            p.count = int(sum(row))
            p.sum = 3.0 * p.count
            if exponential:
                p.scale = SCHEMA
                p.positive.offset = FIRST - 1  # OTLP bucket i is Prometheus bucket i + 1
                p.positive.bucket_counts.extend(row)
            else:
                p.explicit_bounds.extend(bounds)
                p.bucket_counts.extend([*row, 0])
        out.append(bytes(req.SerializeToString()))
    return out


def otlp_ingest(path: Path, bodies: list[bytes], nhcb: bool) -> tuple[float, int]:
    """CPU seconds of decode + translation + append of ``bodies`` into a fresh store; samples
    (histograms or floats) appended."""
    from guardia.storage.remote.otlp_receive import OtlpReceiver, decode
    from guardia.storage.remote.otlp_translate import OtlpSettings
    from guardia.storage.tsdb import TSDB

    settings = OtlpSettings(convert_histograms_to_nhcb=nhcb)
    db = TSDB.open(path)
    rx = OtlpReceiver(db)
    n = 0
    t0 = time.process_time()
    for body in bodies:
        res = rx.ingest(decode(body, "application/x-protobuf", ""), settings)
        if res.errors:
            raise SystemExit(f"OTLP refused: {res.message}")
        n += res.appended
    cpu = time.process_time() - t0
    db.close()
    return cpu, n


def _show(name: str, cpu: float, hists: int, stored: int) -> None:
    print(f"  {name}: {cpu:.2f} CPU s, {cpu / hists * 1e6:.2f} us per histogram ({stored:,} samples stored)")


def run(via: str, series: int) -> None:
    """Build the bodies, ingest native and classic, print CPU per histogram and the ratio."""
    hists = series * SCRAPES
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if via in ("remote-write", "remote-write-v2"):
            v2 = via.endswith("v2")
            nat, cls = rw_native(series, v2), rw_classic(series, v2)
            print(f"{len(nat)} native requests ({len(nat[-1]):,} B compressed), {len(cls)} classic "
                  f"({len(cls[-1]):,} B)")
            cases: list[tuple[str, Callable[[Path], tuple[float, int]]]] = [
                ("native", lambda p: rw_ingest(p, nat, v2)),
                ("classic", lambda p: rw_ingest(p, cls, v2)),
            ]
        elif via == "otlp":
            exp, explicit = otlp_bodies(series, True), otlp_bodies(series, False)
            cases = [
                ("native", lambda p: otlp_ingest(p, exp, False)),
                ("classic", lambda p: otlp_ingest(p, explicit, False)),
                ("nhcb", lambda p: otlp_ingest(p, explicit, True)),
            ]
        else:
            raise SystemExit(f"--via {via!r}: remote-write, remote-write-v2 or otlp")
        got = {name: f(d / name) for name, f in cases}
    print(f"load average {os.getloadavg()[0]:.1f}; {series} histograms x {SCRAPES} scrapes "
          f"received via {via}")
    for name, (cpu, stored) in got.items():
        _show(name, cpu, hists, stored)
    if "nhcb" in got:
        print(f"nhcb/classic received CPU {got['nhcb'][0] / got['classic'][0]:.2f}")
    print(f"native/classic received CPU ({via}) {got['native'][0] / got['classic'][0]:.2f}")
