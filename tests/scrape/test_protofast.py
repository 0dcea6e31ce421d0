"""The protobuf repeat fast path (``scrape/protofast``) against the full path, on random bodies.

Two ingesters share one appender (so a series gets the same ref in both): one keeps its
remembered shape between scrapes, the other forgets it before every scrape and so always
takes the full path (``flatten`` and the per-series cache).  Every scrape's whole result must
be the same: refs, values bit for bit, timestamped samples, native histograms, exemplars,
created timestamps, counts and metadata.  The bodies are built with the ``MetricFamily``
class; each round either changes only values (the fast path must answer) or changes the
structure in one of the ways that must send the scrape the full path.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np
import pytest

from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.model.varint import encode_varint
from guardia.scrape.ingest import Ingester, IngestOptions, IngestResult, ScrapeError
from guardia.scrape.protoingest import HistogramOptions
from guardia.scrape.protoparse import message_class

TARGET = [("instance", "h:1"), ("job", "j")]
DROP = (RelabelConfig.model_validate({"source_labels": ["k"], "regex": "v3", "action": "drop"}),)
BOUNDS = [0.1, 0.5, 1.0, 5.0]


class NullAppender:
    """Gives each label set a ref (shared by both ingesters, so refs compare); stores nothing."""

    def __init__(self) -> None:
        self._refs: dict[Labels, int] = {}

    def ref(self, labels: Labels) -> int:
        return self._refs.setdefault(labels, len(self._refs))


def _family(rng: random.Random, fi: int) -> Any:
    typ = rng.choice([0, 0, 1, 2, 3, 4, 4, 5])
    mf = message_class()(name=f"f{fi}", help=f"help {fi}", type=typ)
    for i in range(rng.randint(1, 5)):
        m = mf.metric.add()
        for k, v in (("k", f"v{i}"), ("z", rng.choice(["a", "b"]))):
            lp = m.label.add()
            lp.name, lp.value = k, v
        if rng.random() < 0.1:
            m.timestamp_ms = 1_700_000_000_000 + rng.randint(0, 10**6)
        if typ == 0:
            m.counter.value = 1.0
            if rng.random() < 0.3:
                ex = m.counter.exemplar
                ex.value = 0.5
                lp = ex.label.add()
                lp.name, lp.value = "trace_id", f"t{i}"
                if rng.random() < 0.5:
                    ex.timestamp.seconds = 1_700_000_000
            if rng.random() < 0.3:
                m.counter.created_timestamp.seconds = 1_600_000_000 + i
        elif typ == 1:
            m.gauge.value = 1.0
        elif typ == 3:
            m.untyped.value = 1.0
        elif typ == 2:
            for q in (0.5, 0.9):
                m.summary.quantile.add().quantile = q
            if rng.random() < 0.3:
                m.summary.created_timestamp.seconds = 1_600_000_000
        else:
            h = m.histogram
            if rng.random() < 0.6:
                bounds = BOUNDS + ([math.inf] if rng.random() < 0.3 else [])
                for ub in bounds:
                    h.bucket.add().upper_bound = ub
                    if rng.random() < 0.1:
                        ex = h.bucket[-1].exemplar
                        ex.value = ub
                        ex.timestamp.seconds = 1_700_000_000
            if not len(h.bucket) or rng.random() < 0.5:  # native buckets too
                h.schema = rng.choice([0, 3, 8])
                h.zero_threshold = 1e-3
                sp = h.positive_span.add()
                sp.offset, sp.length = rng.randint(-2, 2), 3
                if rng.random() < 0.2:
                    ex = h.exemplars.add()
                    ex.value = 1.0
                    ex.timestamp.seconds = 1_700_000_000
            if rng.random() < 0.3:
                h.created_timestamp.seconds = 1_600_000_000
    return mf


def _revalue(rng: random.Random, families: list[Any], flip: bool = False) -> None:
    """New values, structure untouched (valid native counts); with ``flip``, some values that
    change what a histogram becomes (non-cumulative buckets, a zero count)."""
    for mf in families:
        for m in mf.metric:
            if mf.type == 0:
                m.counter.value = float(rng.randint(0, 10**6)) if rng.random() < 0.9 else rng.random()
            elif mf.type == 1:
                m.gauge.value = rng.choice([rng.uniform(-1e9, 1e9), math.nan, -0.0, math.inf])
            elif mf.type == 3:
                m.untyped.value = rng.random()
            elif mf.type == 2:
                m.summary.sample_count = rng.randint(0, 1000)
                m.summary.sample_sum = rng.random() * 100
                for q in m.summary.quantile:
                    q.value = rng.random()
            else:
                h = m.histogram
                total = 0
                as_float = rng.random() < 0.2
                for b in h.bucket:
                    total += rng.randint(0, 5)
                    b.cumulative_count = total
                    b.cumulative_count_float = float(total) + 0.5 if as_float else 0.0
                if flip and rng.random() < 0.3 and len(h.bucket) > 1:  # not cumulative: no NHCB
                    h.bucket[0].cumulative_count, h.bucket[0].cumulative_count_float = total + 7, 0.0
                h.sample_sum = rng.random() * 50
                native = len(h.positive_span) > 0
                if native:
                    counts = [rng.randint(0, 4) for _ in range(3)]
                    zero = rng.randint(0, 2)
                    del h.positive_delta[:]
                    prev = 0
                    for c in counts:
                        h.positive_delta.append(c - prev)
                        prev = c
                    h.zero_count = zero
                    h.sample_count = sum(counts) + zero
                else:
                    h.sample_count = total
                    h.sample_count_float = float(total) + 0.5 if as_float else 0.0
                    # a zero count makes a classic-only histogram native (Prometheus's test)
                    h.zero_count = 1 if flip and rng.random() < 0.3 else 0
                    if h.zero_count:
                        h.sample_count = 1


def _mutate(rng: random.Random, families: list[Any]) -> str:
    """One structural change of the kinds the fast path must notice."""
    mf = rng.choice(families)
    kind = rng.choice(["label", "order", "drop", "add", "bound", "type", "timestamp", "exemplar",
                       "created", "span", "family_order"])
    metrics = mf.metric
    if kind == "label":
        metrics[0].label[0].value += "x"
    elif kind == "order" and len(metrics) > 1:
        a, b = copy.deepcopy(metrics[0]), copy.deepcopy(metrics[1])
        metrics[0].CopyFrom(b)
        metrics[1].CopyFrom(a)
    elif kind == "drop" and len(metrics) > 1:
        del metrics[-1]
    elif kind == "add":
        m = metrics.add()
        m.CopyFrom(metrics[0])
        m.label[0].value = "new"
    elif kind == "bound" and mf.type in (4, 5) and len(metrics[0].histogram.bucket):
        metrics[0].histogram.bucket[0].upper_bound = 0.2
    elif kind == "type":
        mf.type = {0: 1, 1: 0, 2: 2, 3: 1, 4: 5, 5: 4}[mf.type]
    elif kind == "timestamp":
        metrics[0].timestamp_ms = 1_700_000_000_123 if not metrics[0].timestamp_ms else 0
    elif kind == "exemplar" and mf.type == 0:
        ex = metrics[0].counter.exemplar
        ex.value += 1
    elif kind == "created" and mf.type == 0:
        metrics[0].counter.created_timestamp.seconds += 1
    elif kind == "span" and mf.type in (4, 5) and len(metrics[0].histogram.positive_span):
        metrics[0].histogram.positive_span[0].offset += 1
    elif kind == "family_order" and len(families) > 1:
        families.append(families.pop(0))
    return kind


def _body(families: list[Any]) -> bytes:
    out = bytearray()
    for mf in families:
        b = mf.SerializeToString()
        out += encode_varint(len(b)) + b
    return bytes(out)


def _same(a: IngestResult | None, b: IngestResult | None, where: str) -> None:
    if a is None or b is None:
        assert a is b, where
        return
    assert np.array_equal(a.refs, b.refs), where
    assert np.array_equal(a.values.view(np.int64), b.values.view(np.int64)), where  # bit for bit
    assert (a.scraped, a.duplicates, a.post_relabel) == (b.scraped, b.duplicates, b.post_relabel), where
    assert repr(a.timestamped) == repr(b.timestamped), where
    assert repr(a.all_histograms()) == repr(b.all_histograms()), where
    assert a.exemplars == b.exemplars, where
    assert repr(a.created) == repr(b.created), where


def _run(ing: Ingester, body: bytes, app: NullAppender, opts: HistogramOptions) -> IngestResult | str:
    try:
        return ing.ingest_proto(body, app, opts)
    except ScrapeError as e:
        return str(e)


@pytest.mark.parametrize("seed", range(12))
def test_repeat_matches_full_path(seed: int) -> None:
    rng = random.Random(seed)
    hopts = HistogramOptions(native=rng.random() < 0.6, keep_classic=rng.random() < 0.5,
                             bucket_limit=rng.choice([0, 0, 2]), nhcb=rng.random() < 0.4,
                             ct_zero=rng.random() < 0.5)
    iopts = IngestOptions(honor_timestamps=rng.random() < 0.7,
                          metric_relabel=DROP if rng.random() < 0.4 else ())
    app = NullAppender()
    fast, full = Ingester(TARGET, iopts), Ingester(TARGET, iopts)
    families = [_family(rng, fi) for fi in range(rng.randint(1, 8))]
    value_rounds = 0
    prev_ok = False
    for rnd in range(40):
        change = "values"
        if rnd and rng.random() < 0.3:
            change = _mutate(rng, families)
        elif rnd and rng.random() < 0.1:
            change = "flip"
        _revalue(rng, families, change == "flip")
        body = _body(families)
        full._proto_repeat.clear()
        fast._proto_repeat.wait = 0  # no back-off here: as many repeats as can be answered
        a, b = _run(fast, body, app, hopts), _run(full, body, app, hopts)
        where = f"seed {seed} round {rnd} ({change})"
        if isinstance(a, str) or isinstance(b, str):
            assert a == b, where
            prev_ok = False
            continue
        _same(a, b, where)
        assert {k: (m.type, m.help, m.unit) for k, m in fast.metadata.items()} == \
            {k: (m.type, m.help, m.unit) for k, m in full.metadata.items()}, where
        # the round before was values only and remembered its shape: this one is a hit
        value_rounds += change == "values" and prev_ok
        prev_ok = change == "values"
    # values-only repeats of a values-only scrape are answered by the fast path, short of
    # those whose new values change what a histogram becomes (the generator's float counts can
    # make a classic histogram's buckets exceed its count, which NHCB refuses): full path
    assert fast._proto_repeat.hits >= value_rounds // 2, (fast._proto_repeat.hits, value_rounds)
    assert fast._proto_repeat.hits > 0


def test_hits_on_value_changes_and_misses_on_structure() -> None:
    """A counter/gauge/classic-histogram target: every values-only scrape is a hit; each
    structural change is a miss answered by the full path, and the next repeat hits again."""
    rng = random.Random(7)
    families = []
    for typ in (0, 1, 4):
        mf = message_class()(name=f"m{typ}", help="h", type=typ)
        for i in range(3):
            m = mf.metric.add()
            lp = m.label.add()
            lp.name, lp.value = "k", f"v{i}"
            if typ == 4:
                for ub in BOUNDS:
                    m.histogram.bucket.add().upper_bound = ub
        families.append(mf)
    app = NullAppender()
    fast, full = Ingester(TARGET, IngestOptions()), Ingester(TARGET, IngestOptions())
    opts = HistogramOptions()
    rp = fast._proto_repeat
    for kind in ["label", "order", "drop", "add", "bound", "type", "timestamp", "family_order"]:
        for _ in range(3):  # remembered, then two hits
            _revalue(rng, families)
            for mf in families:
                for m in mf.metric:
                    m.histogram.zero_count = 0
            before = rp.hits
            body = _body(families)
            full._proto_repeat.clear()
            _same(fast.ingest_proto(body, app, opts), full.ingest_proto(body, app, opts), kind)
        assert rp.hits == before + 1, kind
        # a structural change: forced so that it is one for this family
        mf = families[2] if kind == "bound" else families[0]
        families.remove(mf)
        families.insert(0, mf)
        if kind == "bound":
            mf.metric[0].histogram.bucket[0].upper_bound += 0.01
        elif kind == "order":
            a, b = copy.deepcopy(mf.metric[0]), copy.deepcopy(mf.metric[1])
            mf.metric[0].CopyFrom(b)
            mf.metric[1].CopyFrom(a)
        elif kind == "family_order":
            families.append(families.pop(0))
        else:
            _mutate_exact(mf, kind)
        body = _body(families)
        before = rp.hits
        full._proto_repeat.clear()
        _same(fast.ingest_proto(body, app, opts), full.ingest_proto(body, app, opts), kind)
        assert rp.hits == before, kind


def _mutate_exact(mf: Any, kind: str) -> None:
    metrics = mf.metric
    if kind == "label":
        metrics[0].label[0].value += "x"
    elif kind == "drop":
        del metrics[-1]
    elif kind == "add":
        m = metrics.add()
        m.CopyFrom(metrics[0])
        m.label[0].value = f"new{len(metrics)}"
    elif kind == "type":
        mf.type = 1 if mf.type == 0 else 0
    elif kind == "timestamp":
        metrics[0].timestamp_ms = 1_700_000_000_123 if not metrics[0].timestamp_ms else 0


def test_backs_off_from_a_structure_that_changes_every_scrape() -> None:
    """Timestamps that move every scrape: no hit is possible, so the skeleton is computed on
    ever fewer scrapes (a wait doubling up to 32); once the body settles, hits come back.
    Every result is still the full path's."""
    mf = message_class()(name="c", help="", type=0)
    for i in range(4):
        m = mf.metric.add()
        lp = m.label.add()
        lp.name, lp.value = "k", f"v{i}"
    app = NullAppender()
    fast, full = Ingester(TARGET, IngestOptions()), Ingester(TARGET, IngestOptions())
    rp = fast._proto_repeat
    digests = 0
    for rnd in range(120):
        settled = rnd >= 80
        for i, m in enumerate(mf.metric):
            m.counter.value = float(rnd * 10 + i)
            m.timestamp_ms = 1_700_000_000_000 + (0 if settled else rnd)
        body = _body([mf])
        skipped = rp.wait > 0
        full._proto_repeat.clear()
        opts = HistogramOptions()
        _same(fast.ingest_proto(body, app, opts), full.ingest_proto(body, app, opts), f"round {rnd}")
        digests += not skipped
        if rnd == 79:
            assert rp.hits == 0 and digests < 20 and rp.misses >= 4, (digests, rp.misses)
    assert rp.hits >= 120 - 80 - 34 and rp.misses == 0


async def test_scrape_loop_through_the_repeat_path_stores_what_the_full_path_stores(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A real scrape loop against test_protobuf's target (counters, a summary, classic and
    native histograms, values changing every round): the scrapes after the first are answered
    by the repeat path, and storage ends up the same as with that path switched off."""
    from tests.scrape.test_protobuf import _floats, _hists, _scrape

    extra = "    scrape_native_histograms: true\n    always_scrape_classic_histograms: true\n"
    fast_store, loop, _ = await _scrape(extra, rounds=4)
    assert loop.ingester._proto_repeat.hits == 3
    monkeypatch.setattr("guardia.scrape.protofast.ProtoRepeat.match",
                        lambda self, *a: (None, b""))
    full_store, loop, _ = await _scrape(extra, rounds=4)
    assert loop.ingester._proto_repeat.hits == 0
    assert _floats(fast_store) == _floats(full_store)
    assert repr(_hists(fast_store, "rpc_seconds")) == repr(_hists(full_store, "rpc_seconds"))
    assert len(_hists(fast_store, "rpc_seconds")) == 4
