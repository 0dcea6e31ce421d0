"""A repeating protobuf scrape's native histograms read as columns (``protohist``) store
exactly what the object path stores.

Random targets (schemas -4..8, classic histograms converted to custom buckets (-53), zero
buckets and zero thresholds, negative buckets, counter resets, float gauge histograms, NaN
and staleness-marker sums, series that vanish and come back, exemplars, created timestamps,
bucket limits and schema caps that lower the resolution, classic buckets kept beside the
native ones) are scraped by two real ``ScrapeLoop``s into two stores, one with the column
path switched off.  Every stored sample is compared bit for bit, and so is what each scrape
handed over.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

import guardia.scrape.loop as loop_mod
from guardia.model import STALE_NAN, Matcher
from guardia.model.matchers import MatchType
from guardia.model.varint import encode_varint
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.protoparse import message_class
from guardia.scrape.target import Target, populate_labels
from guardia.storage.tsdb import TSDB
from tests.scrape.helpers import job
from tests.scrape.test_protobuf import PROTO_CT

T0 = 1_700_000_000_000


def _bits(v: float) -> str:
    return struct.pack("<d", v).hex()


class _Series:
    """One native histogram series of a random target: its structure and its counts."""

    def __init__(self, rng: random.Random, i: int, gauge: bool, plain: bool) -> None:
        self.rng = rng
        self.labels = {"pod": f"p{i}", "z": rng.choice(["a", "b"])}
        self.gauge = gauge
        self.float_counts = gauge and not plain and rng.random() < 0.5
        self.restructure()
        self.pos = [rng.randint(0, 5) for _ in range(self.npos)]
        self.neg = [rng.randint(0, 5) for _ in range(self.nneg)]
        self.zero = rng.randint(0, 3)

    def restructure(self) -> None:
        rng = self.rng
        self.schema = rng.randint(-4, 8)
        self.zt = rng.choice([0.0, 1e-128, 1e-3, 2.0**-128])
        self.pspans = [(rng.randint(-6, 6) if k == 0 else rng.randint(0, 3), rng.randint(0, 4))
                       for k in range(rng.randint(0, 3))]
        self.nspans = [(rng.randint(-3, 3) if k == 0 else rng.randint(0, 2), rng.randint(1, 3))
                       for k in range(rng.choice([0, 0, 1, 2]))]
        if not self.pspans and not self.nspans and self.zt == 0:
            self.pspans = [(0, 0)]  # a no-op span marks an empty native histogram
        self.npos = sum(n for _, n in self.pspans)
        self.nneg = sum(n for _, n in self.nspans)
        self.pos = [self.rng.randint(0, 5) for _ in range(self.npos)]
        self.neg = [self.rng.randint(0, 5) for _ in range(self.nneg)]

    def grow(self) -> None:
        rng = self.rng
        if rng.random() < 0.05:  # a counter reset
            self.pos = [rng.randint(0, 1) for _ in self.pos]
            self.neg = [rng.randint(0, 1) for _ in self.neg]
            self.zero = 0
            return
        self.pos = [c + rng.randint(0, 4) for c in self.pos]
        self.neg = [c + rng.randint(0, 2) for c in self.neg]
        self.zero += rng.randint(0, 1)

    def fill(self, h: Any, rng: random.Random) -> None:
        h.schema, h.zero_threshold = self.schema, self.zt
        for off, n in self.pspans:
            sp = h.positive_span.add()
            sp.offset, sp.length = off, n
        for off, n in self.nspans:
            sp = h.negative_span.add()
            sp.offset, sp.length = off, n
        total = self.zero + sum(self.pos) + sum(self.neg)
        r = rng.random()
        h.sample_sum = (math.nan if r < 0.03 else STALE_NAN if r < 0.05 else total * 0.7)
        if self.float_counts:
            scale = 0.5
            h.sample_count_float = total * scale + (0.25 if rng.random() < 0.5 else 0.0)
            h.zero_count_float = self.zero * scale
            h.positive_count.extend(c * scale for c in self.pos)
            h.negative_count.extend(c * scale for c in self.neg)
            return
        h.sample_count = total
        h.zero_count = self.zero
        for counts, field in ((self.pos, h.positive_delta), (self.neg, h.negative_delta)):
            prev = 0
            for c in counts:
                field.append(c - prev)
                prev = c


class _Target:
    """A random protobuf target: native histogram families (some gauge ones), a classic
    histogram family, a counter."""

    def __init__(self, rng: random.Random, plain: bool) -> None:
        self.rng = rng
        self.plain = plain
        self.native = [_Series(rng, i, False, plain) for i in range(rng.randint(1, 12))]
        self.gauges = [_Series(rng, 100 + i, True, plain) for i in range(rng.randint(0, 3))]
        self.classic = [[rng.randint(0, 3) for _ in range(4)] for _ in range(rng.randint(0, 3))]
        self.exemplars = rng.random() < 0.5
        self.created = not plain and rng.random() < 0.5
        self.with_classic = rng.random() < 0.5  # classic buckets beside native ones
        self.counter = 0.0

    def step(self, rnd: int) -> str:
        rng = self.rng
        change = "values"
        for s in self.native + self.gauges:
            s.grow()
        if rnd and rng.random() < (0.04 if self.plain else 0.12):
            rng.choice(self.native).restructure()
            change = "structure"
        self.classic = [[c + rng.randint(0, 2) for c in b] for b in self.classic]
        self.counter += 1
        return change

    def body(self, rnd: int) -> bytes:
        rng = self.rng
        fam = message_class()
        out = bytearray()
        families = []
        for name, typ, series in (("rpc_seconds", 4, self.native), ("queue_depth", 5, self.gauges)):
            mf = fam(name=name, help="h", type=typ)
            for s in series:
                if rnd % 7 == 3 and s is series[0] and len(series) > 1:
                    continue  # the first series vanishes now and then (a staleness marker)
                m = mf.metric.add()
                for k, v in s.labels.items():
                    lp = m.label.add()
                    lp.name, lp.value = k, v
                s.fill(m.histogram, rng)
                if self.with_classic:
                    for cum, ub in enumerate((0.1, 1.0, 10.0), 1):
                        b = m.histogram.bucket.add()
                        b.upper_bound, b.cumulative_count = ub, cum
                if self.exemplars:
                    ex = m.histogram.exemplars.add()
                    ex.value = 0.5
                    ex.timestamp.seconds = T0 // 1000 + rnd // 8  # a new exemplar now and then
                    lp = ex.label.add()
                    lp.name, lp.value = "trace_id", "t1"
                if self.created:
                    m.histogram.created_timestamp.seconds = T0 // 1000 - 100 + (rnd // 10) * 200
            families.append(mf)
        mf = fam(name="wait_seconds", help="", type=4)
        for i, counts in enumerate(self.classic):
            m = mf.metric.add()
            lp = m.label.add()
            lp.name, lp.value = "q", f"q{i}"
            h = m.histogram
            cum = 0
            for ub, c in zip((0.1, 0.5, 1.0, 5.0), counts, strict=True):
                cum += c
                b = h.bucket.add()
                b.upper_bound, b.cumulative_count = ub, cum
            h.sample_count, h.sample_sum = cum, cum * 0.3
        families.append(mf)
        mf = fam(name="jobs_total", help="", type=0)
        mf.metric.add().counter.value = self.counter
        families.append(mf)
        for f in families:
            b = f.SerializeToString()
            out += encode_varint(len(b)) + b
        return bytes(out)


def _options(rng: random.Random, plain: bool) -> tuple[str, bool]:
    """A job's options; ``plain``: none that lowers resolution, no created timestamps (the
    column path answers most repeats then)."""
    extra = "    scrape_native_histograms: true\n"
    if rng.random() < 0.4:
        extra += "    always_scrape_classic_histograms: true\n"
    if rng.random() < 0.3:
        extra += "    convert_classic_histograms_to_nhcb: true\n"
    if not plain and rng.random() < 0.5:
        extra += f"    native_histogram_bucket_limit: {rng.choice([3, 8, 16])}\n"
    if not plain and rng.random() < 0.5:
        extra += f"    native_histogram_min_bucket_factor: {rng.choice([1.1, 1.5, 2.5])}\n"
    if rng.random() < 0.3:
        extra += "    honor_timestamps: false\n"
    return extra, not plain and rng.random() < 0.6


async def _scrape_all(tmp: Path, bodies: list[bytes], extra: str, ct_zero: bool) -> tuple[TSDB, list[str]]:
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['x:1']}}]\n{extra}")
    final, pre = populate_labels({"__address__": "x:1"}, cfg)
    assert final is not None
    db = TSDB.open(tmp)
    clock = [0.0]

    class _Clock:
        @staticmethod
        def time() -> float:
            return clock[0]

    class _Loop(ScrapeLoop):
        body = b""

        async def fetch(self) -> tuple[bytes, str]:
            return self.body, PROTO_CT

    loop = _Loop(Target("t", final, pre), cfg, db, None, ct_zero=ct_zero)
    handed: list[str] = []
    real = loop_mod.time
    loop_mod.time = _Clock  # type: ignore[assignment]
    try:
        for k, body in enumerate(bodies):
            clock[0] = (T0 + k * 15_000) / 1000
            loop.body = body
            await loop.scrape_once()
            res = loop.last_result
            handed.append(f"{loop.target.last_error}|" + ("" if res is None else repr(
                [(r, t, _hist_key(h)) for r, t, h in res.all_histograms()]) + repr(res.created)))
            handed.append(f"batch={res is not None and res.hist_batch is not None}")
    finally:
        loop_mod.time = real  # type: ignore[assignment]
    return db, handed


def _hist_key(h: Any) -> tuple[Any, ...]:
    return (h.schema, _bits(h.count), _bits(h.sum), _bits(h.zero_threshold), _bits(h.zero_count),
            [(k, _bits(v)) for k, v in h.positive.items()], [(k, _bits(v)) for k, v in h.negative.items()],
            [_bits(v) for v in h.custom_values], h.counter_reset_hint)


def _stored(db: TSDB) -> dict[str, list[Any]]:
    ss = db.querier(0, 2**62).select([Matcher("__name__", MatchType.REGEX, ".+")])
    hs = ss.histograms
    out: dict[str, list[Any]] = {}
    for i, lb in enumerate(ss.labels):
        a, b = int(ss.starts[i]), int(ss.starts[i + 1])
        out[str(lb)] = [(int(ss.timestamps[k]), _bits(float(ss.values[k])),
                         None if hs is None or hs[k] is None else _hist_key(hs[k])) for k in range(a, b)]
    return out


@pytest.mark.parametrize("seed", range(20))
def test_columns_store_what_objects_store(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeds 0-9 draw every option; 10-19 are ``plain`` (see ``_options``), where the
    columns must have answered some scrapes."""
    rng = random.Random(seed)
    plain = seed >= 10
    target = _Target(rng, plain)
    extra, ct_zero = _options(rng, plain)
    bodies, changes = [], []
    for rnd in range(24):
        changes.append(target.step(rnd))
        bodies.append(target.body(rnd))
    new_db, new = asyncio.run(_scrape_all(tmp_path / "new", bodies, extra, ct_zero))
    with monkeypatch.context() as mp:  # the object path: no plan, so no columns
        mp.setattr("guardia.scrape.protofast._plan_columns", lambda *a: None)
        old_db, old = asyncio.run(_scrape_all(tmp_path / "old", bodies, extra, ct_zero))
    try:
        assert not any(line == "batch=True" for line in old)
        for k in range(0, len(new), 2):
            assert new[k] == old[k], f"seed {seed} scrape {k // 2} ({changes[k // 2]}): {extra}"
        a, b = _stored(new_db), _stored(old_db)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == b[key], f"seed {seed} series {key}: {extra}"
        hist_series = [k for k, v in a.items() if any(x[2] is not None for x in v)]
        assert hist_series or all(line.split("|")[0] for line in new[::2]), "no histogram stored"
        used = sum(line == "batch=True" for line in new)
        if plain:
            assert used > 0, (used, extra)  # the columns answered repeats
    finally:
        new_db.close()
        old_db.close()

