"""OTLP histogram points stored as columns (``otlp_histograms.HistogramPoints.columns``) against
the objects the translation used to build, one ``append_histogram`` each: random requests of
exponential histograms (scales above 8 merged down, negative offsets, zero buckets, no sum,
stale points, refused scales) and explicit-bucket ones under ``convert_histograms_to_nhcb``
give the same answers, WAL bytes and stored data, bit for bit."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from guardia.model.histcols import HistCols
from guardia.storage.remote import otlp_histograms
from guardia.storage.remote.otlp_receive import OtlpReceiver, OtlpStoreError
from guardia.storage.remote.otlp_translate import OtlpSettings, translate
from guardia.storage.tsdb import TSDB, TSDBOptions
from tests.storage.remote.storebits import stored_bits, wal_bytes

T0_NS = 1_700_000_000_000 * 1_000_000


def _request(rng: random.Random, rounds: int) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    a = rm.resource.attributes.add()
    a.key, a.value.string_value = "service.name", "api"
    sm = rm.scope_metrics.add()
    expo, explicit = sm.metrics.add(), sm.metrics.add()
    expo.name, expo.unit = "rpc", "s"
    expo.exponential_histogram.aggregation_temporality = 2
    explicit.name, explicit.unit = "size", "By"
    explicit.histogram.aggregation_temporality = 2
    for r in range(rounds):
        for i in rng.sample(range(8), rng.randint(1, 8)):
            t = T0_NS + (r * 15_000 + rng.choice([0, 0, 0, -7_000, 20])) * 1_000_000
            p = expo.exponential_histogram.data_points.add()
            at = p.attributes.add()
            at.key, at.value.string_value = "pod", f"p{i}"
            p.time_unix_nano = t
            p.scale = rng.choice([3, 3, 0, -4, 8, 9, 11, 20, -5])
            p.zero_threshold = rng.choice([0.0, -0.0, 1e-9])
            p.zero_count = rng.randint(0, 3)
            for side in (p.positive, p.negative):
                if rng.random() < 0.8:
                    side.offset = rng.randint(-40, 40)
                    counts = [rng.choice([0, 0, 1, 5, 2**40]) for _ in range(rng.randint(0, 30))]
                    side.bucket_counts.extend(counts)
            p.count = p.zero_count + sum(p.positive.bucket_counts) + sum(p.negative.bucket_counts)
            if rng.random() < 0.02:
                p.positive.bucket_counts.append(2**60 + 1)  # past 2**53: the objects answer
            if rng.random() < 0.8:
                p.sum = rng.choice([0.0, -0.0, 2.5, 1e300])
            if rng.random() < 0.05:
                p.flags = 1  # no recorded value: a staleness marker
            q = explicit.histogram.data_points.add()
            at = q.attributes.add()
            at.key, at.value.string_value = "pod", f"p{i}"
            q.time_unix_nano = t
            k = rng.randint(0, 6)
            q.explicit_bounds.extend(sorted(rng.sample([0.5, 1.0, 2.0, 5.0, 10.0, 20.0], k)))
            q.bucket_counts.extend(rng.choice([0, 0, 3, 9]) for _ in range(k + 1))
            q.count = sum(q.bucket_counts)
            if rng.random() < 0.7:
                q.sum = 1.5 * q.count
            if rng.random() < 0.05:
                q.flags = 1
    return req


class _Side:
    def __init__(self, path: Path) -> None:
        self.db = TSDB.open(path, TSDBOptions())
        self.rx = OtlpReceiver(self.db)
        self.path = path
        self.answers: list[Any] = []

    def send(self, req: Any, settings: OtlpSettings) -> None:
        try:
            res = self.rx.ingest(req, settings)
            self.answers.append((res.appended, res.rejected_points, res.errors))
        except OtlpStoreError as e:
            self.answers.append((str(e), e.bad_request))

    def stored(self) -> list[Any]:
        return stored_bits(self.db)

    def wal(self) -> list[bytes]:
        return wal_bytes(self.path)


@pytest.mark.parametrize("nhcb", [False, True], ids=["classic", "nhcb"])
def test_random_requests_store_the_same_as_the_objects(tmp_path: Path, nhcb: bool) -> None:
    rng = random.Random(7)
    settings = OtlpSettings(convert_histograms_to_nhcb=nhcb)
    answered = [0]
    real = otlp_histograms.HistogramPoints.columns

    def spy(self: Any) -> Any:
        got = real(self)
        answered[0] += got is not None
        return got

    for case in range(25):
        cols, objs = _Side(tmp_path / f"{case}c"), _Side(tmp_path / f"{case}o")
        try:
            for _ in range(rng.randint(1, 3)):
                req = _request(rng, rng.randint(1, 3))
                with mock.patch.object(otlp_histograms.HistogramPoints, "columns", spy):
                    cols.send(req, settings)
                with mock.patch.object(otlp_histograms.HistogramPoints, "columns", lambda self: None):
                    objs.send(req, settings)
            assert cols.answers == objs.answers
            assert cols.stored() == objs.stored()
            assert cols.wal() == objs.wal()
        finally:
            cols.db.close()
            objs.db.close()
    assert answered[0] >= 25


def test_columns_are_from_objects_of_the_points() -> None:
    """Straight from a translation: the layouts, rows and matrices ``HistCols.from_objects``
    makes of the objects, in the receiver's order (by series, then time)."""
    rng = random.Random(3)
    answered = 0
    for _ in range(60):
        req = _request(rng, rng.randint(1, 4))
        for nhcb in (False, True):
            tr = translate(req, OtlpSettings(convert_histograms_to_nhcb=nhcb))
            got = tr.hist.columns()
            want = [(ls, t, h) for ls, hs in tr.histograms.items() for t, h in sorted(hs, key=lambda x: x[0])]
            if got is None:
                counts = [c for _, _, h in want for c in [*h.positive.values(), *h.negative.values()]]
                assert max(counts) >= 2**53
                continue
            answered += 1
            series, ts, cols = got
            assert series == [ls for ls, _, _ in want] and ts.tolist() == [t for _, t, _ in want]
            ref = HistCols.from_objects([h for _, _, h in want])
            assert cols.lid.tolist() == ref.lid.tolist() and cols.row.tolist() == ref.row.tolist()
            for x, y in zip(cols.layouts, ref.layouts, strict=True):
                assert (x.schema, struct.pack("<d", x.zero_threshold), x.custom_values, x.pos, x.neg) == \
                    (y.schema, struct.pack("<d", y.zero_threshold), y.custom_values, y.pos, y.neg)
                assert x.m.view(np.uint64).tolist() == y.m.view(np.uint64).tolist()
                assert x.hint.tolist() == y.hint.tolist()
    assert answered >= 60
