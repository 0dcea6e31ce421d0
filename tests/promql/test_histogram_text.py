"""The promqltest notation of native histograms: parsing, expansion and bad input."""

from __future__ import annotations

import pytest

from guardia.model.histogram import GAUGE
from guardia.promql.histogram_text import (
    HistogramSyntaxError,
    expand_histogram,
    parse_histogram,
    split_tokens,
)


def test_text_notation() -> None:
    toks = split_tokens("0 {{schema:1 sum:2 count:3}}x2 _ {{count:1}}+{{count:2 buckets:[1]}}x2 stale")
    assert toks == ["0", "{{schema:1 sum:2 count:3}}x2", "_",
                    "{{count:1}}+{{count:2 buckets:[1]}}x2", "stale"]
    assert len(expand_histogram(toks[1])) == 3
    series = expand_histogram(toks[3])
    assert [h.count for h in series] == [1, 3, 5]
    assert series[2].positive == {0: 2.0}
    h = parse_histogram("schema:-53 custom_values:[5 10] buckets:[1 2] offset:1 counter_reset_hint:gauge")
    assert h.positive == {1: 1.0, 2: 2.0} and h.counter_reset_hint == GAUGE and h.custom_values == [5, 10]
    for bad in ("schema:0 buckets:1", "bogus:1", "counter_reset_hint:maybe", "sum:x"):
        with pytest.raises(HistogramSyntaxError):
            parse_histogram(bad)
