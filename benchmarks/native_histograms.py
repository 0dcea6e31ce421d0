"""Native versus classic histograms in the embedded store: ingest CPU, bytes on disk, and
``histogram_quantile(0.99, ...)`` over the rate of 1,000 histogram series for 1 h.

The same observations are stored both ways: 1,000 series scraped every 15 s for an hour
(240 scrapes), each scrape adding observations spread over 20 buckets.  Native: one
schema-3 histogram sample per series and scrape, each scrape's as one batch of columns
(``Appender.append_histograms``; the same through ``append_histogram``, an object per
histogram, is reported beside it).  Classic:
``_bucket`` series for 20 bounds and ``+Inf`` plus ``_sum`` and ``_count`` (23 floats per
histogram, ``append_batch`` per scrape).  Bytes are the data directory after the hour
(the WAL: the head holds the hour), and the hour written as one block (a snapshot of
the head: histogram pages against float pages), with the CPU that block write took.  The
query is a range query over the hour at a 60 s step:
``histogram_quantile(0.99, sum(rate(x[5m])))`` against
``histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))``.

By default every bucket grows by the same count each scrape (a steady rate); ``--noisy``
draws each bucket's growth at random (Poisson), which compresses less both ways.

``--series N`` scales it down.  The last line is the native / classic ratio of query time.

``--scrape`` measures ingest through the real protobuf scrape path instead: a ``ScrapeLoop``
(its fetch answering from memory, its clock moved 15 s per scrape) scrapes 240 protobuf bodies
of the 1,000 native histogram series into a fresh store, against the same observations as
classic histograms with 20 buckets, served as a protobuf body and as a text body.  Decode,
flatten, series lookup, appends, staleness tracking and commit are all counted; the bodies
are encoded beforehand and not counted.  The last line is native / classic (protobuf) CPU.

``--via remote-write|remote-write-v2|otlp`` measures ingest as received by the remote write
or OTLP receiver instead (``native_histograms_via.py``).

``--from-blocks`` measures only the query read from the hour's block (no WAL, no head):
both blocks are written once, then the two queries run alternately ``--repeat`` times
(default 5), each in a freshly opened store; the last line is the native / classic ratio
of the median query CPU.  For profiling: ``--from-blocks --profile`` prints cProfile's
top functions of one native block query.

``--ooo`` measures the out-of-order path (``out_of_order_time_window`` of 2 h): the hour's
even scrapes are appended in order, then the odd ones newest first, each put among the
others out of order; both halves through the columns (``append_histograms``) and through
objects (``append_histogram``), in fresh stores.  The last line is the out-of-order /
in-order CPU per histogram (columns).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from guardia.model import Labels
from guardia.model.histbounds import exp_bound
from guardia.model.histcols import HistCols, Layout
from guardia.model.histogram import FloatHistogram
from guardia.promql import Engine
from guardia.storage.tsdb import TSDB, TSDBOptions

SCRAPES = 240
STEP_MS = 15_000
T0 = 1_700_000_000_000
SCHEMA = 3
FIRST = 8  # native bucket indexes FIRST..FIRST+19: bounds 2**(9/8) .. 2**(28/8)


def _dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


NOISY = [False]
_NOISY_CACHE: dict[int, np.ndarray] = {}


def _counts(series: int, k: int) -> np.ndarray:
    """Cumulative observations per bucket of each series after scrape ``k`` (series, 20)."""
    base = np.arange(1, 21, dtype=np.float64)[None, :] * (1 + np.arange(series)[:, None] % 7)
    if NOISY[0]:
        cum = _NOISY_CACHE.get(series)
        if cum is None:  # the same draws for the native and the classic store
            rng = np.random.default_rng(7)
            draws = rng.poisson(base[None, :, :], size=(SCRAPES, series, 20)).astype(np.float64)
            cum = _NOISY_CACHE[series] = np.cumsum(draws, axis=0)
        noisy: np.ndarray = cum[k]
        return noisy
    out: np.ndarray = base * (k + 1)
    return out


def _block(db: TSDB, dest: Path) -> tuple[int, float]:
    """The head written as one block (a snapshot): its bytes and the CPU seconds it took."""
    c0 = time.process_time()
    db.snapshot(dest)
    return _dir_bytes(dest), time.process_time() - c0


def _series(db: TSDB, series: int) -> tuple[list[Labels], np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's series created in ``db``: their labels and refs, and the layout ids
    and rows of a scrape's columns (one layout, a row per series)."""
    labels = [Labels({"__name__": "rpc_seconds", "pod": f"p{i}"}) for i in range(series)]
    app = db.appender()
    refs = np.array([app.ref(ls) for ls in labels], dtype=np.int64)
    app.commit()
    return labels, refs, np.zeros(series, dtype=np.int32), np.arange(series, dtype=np.int64)


def ingest_native(path: Path, series: int) -> tuple[float, int, float]:
    """Each scrape's histograms as one batch of columns (``append_histograms``, as
    ``ingest_classic`` appends each scrape's floats with ``append_batch``)."""
    db = TSDB.open(path)
    _, refs, lid, rows = _series(db, series)
    t0 = time.process_time()
    for k in range(SCRAPES):
        layout = _native_layout(series, k)
        app = db.appender()
        app.append_histograms(refs, T0 + k * STEP_MS, HistCols(lid, rows, [layout]))
        app.commit()
    cpu = time.process_time() - t0
    block_bytes, block_cpu = _block(db, path.with_name(path.name + "-block"))
    db.close()
    return cpu, block_bytes, block_cpu


def ingest_native_objects(path: Path, series: int) -> float:
    """The same through ``append_histogram``, a ``FloatHistogram`` per sample (how scrapes
    and remote write hand them over today)."""
    db = TSDB.open(path)
    labels = [Labels({"__name__": "rpc_seconds", "pod": f"p{i}"}) for i in range(series)]
    t0 = time.process_time()
    for k in range(SCRAPES):
        counts = _counts(series, k)
        app = db.appender()
        for i, ls in enumerate(labels):
            c = counts[i]
            h = FloatHistogram(schema=SCHEMA, count=float(c.sum()), sum=float(c.sum()) * 3.0,
                               zero_threshold=2.0**-128,
                               positive={FIRST + j: float(c[j]) for j in range(20)})
            app.append_histogram(ls, T0 + k * STEP_MS, h)
        app.commit()
    cpu = time.process_time() - t0
    db.close()
    return cpu


def _native_layout(series: int, k: int) -> Layout:
    counts = _counts(series, k)
    m = np.empty((series, 23))
    total = counts.sum(axis=1)
    m[:, 0] = total
    m[:, 1] = 0.0
    m[:, 2] = total * 3.0
    m[:, 3:] = counts
    return Layout(SCHEMA, 2.0**-128, (), tuple(range(FIRST, FIRST + 20)), (), m,
                  np.zeros(series, dtype=np.int8))


def ingest_ooo(path: Path, series: int, objects: bool) -> tuple[float, float]:
    """CPU seconds of the even scrapes in order and of the odd ones, newest first (out of
    order), through columns or (``objects``) a ``FloatHistogram`` per sample."""
    db = TSDB.open(path, TSDBOptions(out_of_order_time_window_ms=2 * 3_600_000))
    labels, refs, lid, rows = _series(db, series)
    cpu: list[float] = []
    for order in (range(0, SCRAPES, 2), range(SCRAPES - 1, 0, -2)):
        layouts = {k: _native_layout(series, k) for k in order}
        hists = {k: HistCols(lid, rows, [layouts[k]]).objects().tolist() for k in order} if objects else {}
        t0 = time.process_time()
        for k in order:
            app = db.appender()
            if objects:
                for ls, h in zip(labels, hists[k], strict=True):
                    app.append_histogram(ls, T0 + k * STEP_MS, h)
            else:
                app.append_histograms(refs, T0 + k * STEP_MS, HistCols(lid, rows, [layouts[k]]))
            st = app.commit()
            assert st.rejected == 0, st
        cpu.append(time.process_time() - t0)
    assert len(db.histograms) == series * SCRAPES
    db.close()
    return cpu[0], cpu[1]


def ooo_mode(series: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        in_c, ooo_c = ingest_ooo(Path(tmp) / "c", series, False)
        in_o, ooo_o = ingest_ooo(Path(tmp) / "o", series, True)
    half = series * SCRAPES // 2
    print(f"load average {os.getloadavg()[0]:.1f}; {series} histograms x {SCRAPES // 2} scrapes per half")
    print(f"columns: in order {in_c:.2f} CPU s ({half / in_c:,.0f} histograms/s), out of order {ooo_c:.2f} "
          f"({half / ooo_c:,.0f}/s)")
    print(f"objects: in order {in_o:.2f} CPU s ({half / in_o:,.0f} histograms/s), out of order {ooo_o:.2f} "
          f"({half / ooo_o:,.0f}/s); out-of-order/in-order {ooo_o / in_o:.2f}")
    print(f"out-of-order/in-order ingest CPU (columns) {ooo_c / in_c:.2f}")


def ingest_classic(path: Path, series: int) -> tuple[float, int, float]:
    db = TSDB.open(path)
    bounds = [exp_bound(FIRST + j, SCHEMA) for j in range(20)]
    app = db.appender()
    refs = []
    for i in range(series):
        pod = f"p{i}"
        for b in [*(repr(x) for x in bounds), "+Inf"]:
            refs.append(app.ref(Labels({"__name__": "rpc_seconds_bucket", "pod": pod, "le": b})))
        refs.append(app.ref(Labels({"__name__": "rpc_seconds_sum", "pod": pod})))
        refs.append(app.ref(Labels({"__name__": "rpc_seconds_count", "pod": pod})))
    app.commit()
    r = np.array(refs, dtype=np.int64)
    t0 = time.process_time()
    for k in range(SCRAPES):
        c = _counts(series, k)
        cum = np.cumsum(c, axis=1)
        vals = np.concatenate([cum, cum[:, -1:], cum[:, -1:] * 3.0, cum[:, -1:]], axis=1).reshape(-1)
        app = db.appender()
        app.append_batch(r, T0 + k * STEP_MS, vals)
        app.commit()
    cpu = time.process_time() - t0
    block_bytes, block_cpu = _block(db, path.with_name(path.name + "-block"))
    db.close()
    return cpu, block_bytes, block_cpu


def query(path: Path, expr: str) -> tuple[float, float, float, float]:
    """(open + WAL replay seconds, query seconds, query CPU seconds, the last p99).  The CPU
    figure is the one to compare on a shared machine: wall time there follows the load."""
    t0 = time.perf_counter()
    db = TSDB.open(path)
    opened = time.perf_counter() - t0
    end = T0 + (SCRAPES - 1) * STEP_MS
    start = end - 3_600_000 + 5 * 60_000
    t0, c0 = time.perf_counter(), time.process_time()
    res = Engine().range(db, expr, start, end, 60_000)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    db.close()
    last = float(res.value[0].values[-1]) if res.value else float("nan")
    return opened, wall, cpu, last


NATIVE_Q = "histogram_quantile(0.99, sum(rate(rpc_seconds[5m])))"
CLASSIC_Q = "histogram_quantile(0.99, sum by (le) (rate(rpc_seconds_bucket[5m])))"


def from_blocks(n: int, repeat: int, profile: bool) -> None:
    """The block query alone, native and classic alternately (see the module's docstring)."""
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        nat, cls = Path(tmp) / "native", Path(tmp) / "classic"
        ingest_native(nat, n)
        ingest_classic(cls, n)
        nb, cb = Path(tmp) / "native-block", Path(tmp) / "classic-block"
        if profile:
            import cProfile
            import pstats

            query(nb, NATIVE_Q)  # imports and first-use costs out of the profile
            prof = cProfile.Profile()
            prof.enable()
            query(nb, NATIVE_Q)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
            return
        query(nb, NATIVE_Q)
        query(cb, CLASSIC_Q)
        cn: list[float] = []
        cc: list[float] = []
        for i in range(repeat):
            _, _, c_n, v_n = query(nb, NATIVE_Q)
            _, _, c_c, v_c = query(cb, CLASSIC_Q)
            cn.append(c_n)
            cc.append(c_c)
            print(f"round {i + 1}: native {c_n:.3f} CPU s (p99 {v_n:.4g}), classic {c_c:.3f} CPU s "
                  f"(p99 {v_c:.4g}); load average {os.getloadavg()[0]:.1f}")
    mn, mc = statistics.median(cn), statistics.median(cc)
    print(f"query 1 h at 60 s from the block, median of {repeat}: native {mn:.3f} CPU s "
          f"(min {min(cn):.3f}), classic {mc:.3f} CPU s (min {min(cc):.3f})")
    print(f"native/classic block query CPU {mn / mc:.2f}")


PROTO_CT = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"


def _scrape_bodies(series: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(native protobuf, classic protobuf, classic text) bodies of every scrape."""
    from guardia.model.varint import encode_varint
    from guardia.scrape.protoparse import message_class

    fam = message_class()
    bounds = [exp_bound(FIRST + j, SCHEMA) for j in range(20)]
    les = [repr(b) for b in bounds]
    nat: list[bytes] = []
    cls: list[bytes] = []
    txt: list[bytes] = []
    for k in range(SCRAPES):
        c = _counts(series, k).astype(np.int64)
        cum = np.cumsum(c, axis=1)
        mn = fam(name="rpc_seconds", help="", type=4)
        mc = fam(name="rpc_seconds", help="", type=4)
        lines = ["# TYPE rpc_seconds histogram"]
        for i in range(series):
            total = int(cum[i, -1])
            m = mn.metric.add()
            lp = m.label.add()
            lp.name, lp.value = "pod", f"p{i}"
            h = m.histogram
            h.sample_count, h.sample_sum = total, total * 3.0
            h.schema, h.zero_threshold, h.zero_count = SCHEMA, 2.0**-128, 0
            sp = h.positive_span.add()
            sp.offset, sp.length = FIRST, 20
            h.positive_delta.extend(np.diff(c[i], prepend=0).tolist())
            m = mc.metric.add()
            lp = m.label.add()
            lp.name, lp.value = "pod", f"p{i}"
            h = m.histogram
            h.sample_count, h.sample_sum = total, total * 3.0
            for ub, cc in zip(bounds, cum[i].tolist(), strict=True):
                b = h.bucket.add()
                b.upper_bound, b.cumulative_count = ub, cc
            lines += [f'rpc_seconds_bucket{{pod="p{i}",le="{le}"}} {cc}'
                      for le, cc in zip(les, cum[i].tolist(), strict=True)]
            lines += [f'rpc_seconds_bucket{{pod="p{i}",le="+Inf"}} {total}',
                      f'rpc_seconds_sum{{pod="p{i}"}} {total * 3.0!r}',
                      f'rpc_seconds_count{{pod="p{i}"}} {total}']
        for out, mf in ((nat, mn), (cls, mc)):
            b = mf.SerializeToString()
            out.append(encode_varint(len(b)) + b)
        txt.append(("\n".join(lines) + "\n").encode())
    return nat, cls, txt


def scrape_ingest(path: Path, bodies: list[bytes], ctype: str, native: bool) -> tuple[float, int]:
    """CPU seconds of a ``ScrapeLoop`` scraping ``bodies`` into a fresh store, and the
    histogram samples stored (native) or float samples stored (classic)."""
    import asyncio

    import guardia.scrape.loop as loop_mod
    from guardia.config import parse_yaml
    from guardia.config.prometheus import parse_prometheus_config
    from guardia.scrape.loop import ScrapeLoop
    from guardia.scrape.target import Target, populate_labels

    text = ("scrape_configs:\n  - job_name: t\n    static_configs: [{targets: ['x:1']}]\n"
            f"    scrape_native_histograms: {'true' if native else 'false'}\n")
    cfg_all, issues = parse_prometheus_config(parse_yaml(text, "prometheus.yml"))
    assert cfg_all is not None, issues
    cfg = cfg_all.scrape_configs[0]
    final, pre = populate_labels({"__address__": "x:1"}, cfg)
    assert final is not None
    db = TSDB.open(path)
    clock = [T0 / 1000.0]

    class _Clock:
        @staticmethod
        def time() -> float:
            return clock[0]

    class _Loop(ScrapeLoop):
        body = b""

        async def fetch(self) -> tuple[bytes, str]:
            return self.body, ctype

    lp = _Loop(Target("t", final, pre), cfg, db, None)
    real_time = loop_mod.time
    loop_mod.time = _Clock  # type: ignore[assignment]
    try:
        async def run() -> float:
            t0 = time.process_time()
            for k, body in enumerate(bodies):
                clock[0] = (T0 + k * STEP_MS) / 1000.0
                lp.body = body
                await lp.scrape_once()
                if lp.target.last_error:
                    raise SystemExit(f"scrape {k}: {lp.target.last_error}")
            return time.process_time() - t0

        cpu = asyncio.run(run())
    finally:
        loop_mod.time = real_time  # type: ignore[assignment]
    n = db.histograms.describe()[1]
    db.close()
    return cpu, int(n)


def scrape_mode(n: int) -> None:
    nat, cls, txt = _scrape_bodies(n)
    print(f"bodies: native protobuf {len(nat[-1]):,} B, classic protobuf {len(cls[-1]):,} B, "
          f"classic text {len(txt[-1]):,} B per scrape")
    with tempfile.TemporaryDirectory() as tmp:
        cpu_n, got_n = scrape_ingest(Path(tmp) / "n", nat, PROTO_CT, True)
        cpu_c, _ = scrape_ingest(Path(tmp) / "c", cls, PROTO_CT, False)
        cpu_t, _ = scrape_ingest(Path(tmp) / "t", txt, "text/plain; version=0.0.4", False)
    samples = n * SCRAPES
    print(f"load average {os.getloadavg()[0]:.1f}; {n} histograms x {SCRAPES} scrapes through ScrapeLoop "
          f"({got_n} native histogram samples stored)")
    print(f"scrape ingest CPU: native protobuf {cpu_n:.2f} s ({samples / cpu_n:,.0f} histograms/s), "
          f"classic protobuf {cpu_c:.2f} s, classic text {cpu_t:.2f} s")
    print(f"native/classic scrape ingest CPU (protobuf) {cpu_n / cpu_c:.2f} (text {cpu_n / cpu_t:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrape", action="store_true", help="ingest through ScrapeLoop and protobuf bodies")
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--noisy", action="store_true", help="random (Poisson) growth per bucket")
    ap.add_argument("--from-blocks", action="store_true", help="only the query read from the hour's block")
    ap.add_argument("--repeat", type=int, default=5, help="rounds of --from-blocks")
    ap.add_argument("--profile", action="store_true", help="with --from-blocks: cProfile one native query")
    ap.add_argument("--via", choices=("remote-write", "remote-write-v2", "otlp"),
                    help="ingest CPU as received through a receiver (native_histograms_via.py)")
    ap.add_argument("--ooo", action="store_true", help="ingest in order against out of order")
    args = ap.parse_args()
    NOISY[0] = args.noisy
    n = args.series
    if args.via:
        from native_histograms_via import run

        run(args.via, n)
        return
    if args.scrape:
        scrape_mode(n)
        return
    if args.ooo:
        ooo_mode(n)
        return
    if args.from_blocks:
        from_blocks(n, args.repeat, args.profile)
        return
    with tempfile.TemporaryDirectory() as tmp:
        nat, cls = Path(tmp) / "native", Path(tmp) / "classic"
        cpu_o = ingest_native_objects(Path(tmp) / "objects", n)
        cpu_n, blk_n, bcpu_n = ingest_native(nat, n)
        cpu_c, blk_c, bcpu_c = ingest_classic(cls, n)
        bytes_n, bytes_c = _dir_bytes(nat), _dir_bytes(cls)
        native = NATIVE_Q
        o_n, q_n, c_n, v_n = query(nat, native)
        classic = CLASSIC_Q
        o_c, q_c, c_c, v_c = query(cls, classic)
        # the same query over the hour's block (the snapshot: no head, no WAL)
        _, bq_n, bc_n, bv_n = query(Path(tmp) / "native-block", native)
        _, bq_c, bc_c, bv_c = query(Path(tmp) / "classic-block", classic)
    samples = n * SCRAPES
    print(f"load average {os.getloadavg()[0]:.1f}; {n} histograms x {SCRAPES} scrapes ({samples} samples)")
    print(f"ingest CPU: native {cpu_n:.2f} s ({samples / cpu_n:,.0f} histograms/s), "
          f"classic {cpu_c:.2f} s ({samples / cpu_c:,.0f} histograms/s as 23 floats); "
          f"native one object per histogram (append_histogram) {cpu_o:.2f} s")
    print(f"bytes on disk: native {bytes_n:,} ({bytes_n / samples:.1f} B/histogram), "
          f"classic {bytes_c:,} ({bytes_c / samples:.1f} B/histogram); "
          f"native/classic {bytes_n / bytes_c:.2f}")
    print(f"the hour as a block: native {blk_n:,} bytes ({blk_n / samples:.2f} B/histogram, written in "
          f"{bcpu_n:.2f} CPU s), classic {blk_c:,} ({blk_c / samples:.2f} B/histogram, {bcpu_c:.2f} CPU s); "
          f"native/classic {blk_n / blk_c:.2f}")
    print(f"open (WAL replay of the hour): native {o_n:.2f} s, classic {o_c:.2f} s")
    print(f"query 1 h at 60 s: native {q_n:.2f} s, {c_n:.2f} CPU s (p99 {v_n:.4g}), "
          f"classic {q_c:.2f} s, {c_c:.2f} CPU s (p99 {v_c:.4g})")
    print(f"query 1 h at 60 s from the block: native {bq_n:.2f} s, {bc_n:.2f} CPU s (p99 {bv_n:.4g}), "
          f"classic {bq_c:.2f} s, {bc_c:.2f} CPU s (p99 {bv_c:.4g})")
    print(f"native/classic ingest CPU {cpu_n / cpu_c:.2f}")
    print(f"native/classic query time {q_n / q_c:.2f} (CPU {c_n / c_c:.2f})")


if __name__ == "__main__":
    main()
