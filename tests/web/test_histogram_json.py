"""Native histogram points in the query API's JSON, in Prometheus's shape."""

from __future__ import annotations

import orjson

from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.promql import Engine
from guardia.storage.memory import MemoryStorage
from guardia.web.format import result_json


def _store() -> MemoryStorage:
    st = MemoryStorage()
    app = st.appender()
    h = FloatHistogram(schema=0, count=5, sum=6.5, zero_threshold=0.001, zero_count=1,
                       positive={0: 2.0, 1: 0.0, 2: 1.0}, negative={1: 1.0})
    ref = app.ref(Labels({"__name__": "lat"}))
    app.append(ref, 0, 3.0)
    app.append_histogram(ref, 60_000, h)
    app.commit()
    return st


def test_vector_histogram_point() -> None:
    res = Engine().instant(_store(), "lat", 60_000)
    data = orjson.loads(result_json(res.type, res.value))
    assert data == {"resultType": "vector", "result": [{
        "metric": {"__name__": "lat"},
        "histogram": [60, {
            "count": "5", "sum": "6.5",
            # negative [-2,-1), zero [-0.001,0.001], positive (0.5,1] and (2,4]; the empty (1,2] is left out
            "buckets": [[1, "-2", "-1", "1"], [3, "-0.001", "0.001", "1"],
                        [0, "0.5", "1", "2"], [0, "2", "4", "1"]],
        }],
    }]}


def test_matrix_with_floats_and_histograms() -> None:
    res = Engine().range(_store(), "lat", 0, 60_000, 60_000)
    data = orjson.loads(result_json(res.type, res.value))
    (series,) = data["result"]
    assert series["values"] == [[0, "3"]]
    assert [p[0] for p in series["histograms"]] == [60]
    assert series["histograms"][0][1]["count"] == "5"


def test_histogram_only_series_has_no_values_key() -> None:
    res = Engine().range(_store(), "lat", 60_000, 60_000, 60_000)
    (series,) = orjson.loads(result_json(res.type, res.value))["result"]
    assert "values" not in series and len(series["histograms"]) == 1
