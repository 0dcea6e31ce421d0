"""``convert_classic_histograms_to_nhcb`` (Prometheus 3): a classic histogram scraped in the
text or the protobuf format is stored as one native histogram with custom buckets; its classic
series stay only with ``always_scrape_classic_histograms``.  Both formats give the same
histogram, and PromQL over it answers as over the classic buckets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guardia.model import Matcher
from guardia.model import textparse as P
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, GAUGE, FloatHistogram, HistogramError, from_classic
from guardia.promql import Engine, EngineOptions
from guardia.scrape.textflat import flatten_text
from tests.scrape.test_protobuf import _floats, _hists, _scrape

NHCB = "    convert_classic_histograms_to_nhcb: true\n"
TEXT = "    scrape_protocols: [PrometheusText0.0.4]\n"
PROTO = "    scrape_protocols: [PrometheusProto]\n"


@pytest.mark.parametrize("protocol", [TEXT, PROTO], ids=["text", "protobuf"])
async def test_classic_histograms_become_custom_bucket_histograms(protocol: str) -> None:
    storage, loop, _ = await _scrape(NHCB + protocol, native=False)
    names = {k.split("{")[0] for k in _floats(storage)}
    assert not names & {"req_seconds_bucket", "req_seconds_count", "req_seconds_sum",
                        "rpc_seconds_bucket", "rpc_seconds_count"}, names
    assert {"jobs_total", "queue_depth", "rpc_summary_seconds", "rpc_summary_seconds_count"} <= names
    h1, h2 = _hists(storage, "req_seconds")
    assert h1.schema == CUSTOM_BUCKETS_SCHEMA and h1.custom_values == [0.1, 1.0, 10.0]
    # round n: cumulative n, 2n, 3n, +Inf 3n; count 3n, sum 2.5n
    assert (h1.count, h1.sum, h1.positive) == (3.0, 2.5, {0: 1.0, 1: 1.0, 2: 1.0})
    assert (h2.count, h2.sum, h2.positive) == (6.0, 5.0, {0: 2.0, 1: 2.0, 2: 2.0})
    assert loop.last_result is not None


@pytest.mark.parametrize("protocol", [TEXT, PROTO], ids=["text", "protobuf"])
async def test_always_scrape_classic_keeps_both_and_they_agree(protocol: str) -> None:
    storage, _, _ = await _scrape(NHCB + protocol + "    always_scrape_classic_histograms: true\n",
                                  native=False, rounds=3)
    plain, _, _ = await _scrape(protocol, native=False, rounds=3)
    assert _floats(storage) == _floats(plain)  # the classic series are all still there
    assert len(_hists(storage, "req_seconds")) == 3
    eng = Engine(EngineOptions())
    [s] = storage.querier(0, 2**62).select([Matcher.equal("__name__", "req_seconds")])
    t = int(s.timestamps[-1])
    for q in (0.05, 0.5, 0.9):
        native = eng.instant(storage, f"histogram_quantile({q}, req_seconds)", t).value
        classic = eng.instant(storage, f"histogram_quantile({q}, req_seconds_bucket)", t).value
        assert len(native) == len(classic) == 1
        assert math.isclose(native[0].v, classic[0].v), (q, native, classic)
    count = eng.instant(storage, "histogram_count(req_seconds)", t).value[0].v
    assert count == eng.instant(storage, "req_seconds_count", t).value[0].v


def test_text_conversion_keeps_what_it_cannot_convert() -> None:
    text = "\n".join([
        "# TYPE ok histogram",
        'ok_bucket{le="1"} 2 1.0', 'ok_bucket{le="+Inf"} 5 1.0', "ok_sum 7 1.0", "ok_count 5 1.0",
        "# TYPE shrinking histogram",  # not cumulative: left as classic series
        'shrinking_bucket{le="1"} 4', 'shrinking_bucket{le="2"} 3', 'shrinking_bucket{le="+Inf"} 4',
        "shrinking_count 4",
        "# TYPE waiting gaugehistogram",
        'waiting_bucket{le="10"} 1', 'waiting_bucket{le="+Inf"} 3', "waiting_gcount 3", "waiting_gsum 12",
        "# TYPE other counter", "other_total 9",
        "# TYPE ok_bucket_not_a_bucket unknown",
        'ok_bucket_not_a_bucket{le="x"} 1',
        "# EOF",
    ]) + "\n"
    meta: dict[str, P.Metadata] = {}
    flat = flatten_text(text, True, meta, nhcb=True)
    names = [f[0] for f in flat]
    assert names == ["ok", "shrinking_bucket", "shrinking_bucket", "shrinking_bucket", "shrinking_count",
                     "waiting", "other_total", "ok_bucket_not_a_bucket"]
    ok = flat[0][2]
    assert isinstance(ok, FloatHistogram) and flat[0][3] == 1000
    assert (ok.count, ok.sum, ok.custom_values, ok.positive) == (5.0, 7.0, [1.0], {0: 2.0, 1: 3.0})
    waiting = flat[5][2]
    assert isinstance(waiting, FloatHistogram) and waiting.counter_reset_hint == GAUGE
    assert (waiting.count, waiting.sum, waiting.positive) == (3.0, 12.0, {0: 1.0, 1: 2.0})
    assert meta["ok"].type == "histogram"


def test_a_malformed_line_is_an_error_naming_it() -> None:
    with pytest.raises(P.ParseError, match="line 2"):
        flatten_text("# TYPE x histogram\nx_bucket{le=1} 3\n", False, {}, nhcb=True)


def test_from_classic_checks_its_input() -> None:
    h = from_classic([(0.5, 1.0), (math.inf, 4.0), (0.25, 1.0)], None, 3.0)
    assert h.custom_values == [0.25, 0.5] and h.positive == {0: 1.0, 2: 3.0} and h.count == 4.0
    with pytest.raises(HistogramError, match="cumulative"):
        from_classic([(1.0, 5.0), (2.0, 4.0)], 5.0, 0.0)
    with pytest.raises(HistogramError, match="no \\+Inf"):
        from_classic([(1.0, 5.0)], None, 0.0)
    with pytest.raises(HistogramError, match="same le"):
        from_classic([(1.0, 5.0), (1.0, 5.0)], 5.0, 0.0)
    assert np.isclose(from_classic([], 3.0, 1.0).count, 3.0)
