"""The ingest hot path: cached series texts, target labels, metric relabeling, limits."""

from __future__ import annotations

import pytest

from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.scrape.ingest import Ingester, IngestOptions, ScrapeError, merge_target_labels
from guardia.storage.memory import MemoryStorage

TARGET = [("instance", "h:1"), ("job", "j")]


def _ingest(text: str, opts: IngestOptions | None = None, om: bool = False, ing: Ingester | None = None):
    storage = MemoryStorage()
    ing = ing or Ingester(TARGET, opts or IngestOptions())
    app = storage.appender()
    res = ing.ingest(text, om, app, 1000)
    labels = [storage._series[r].labels for r in res.refs.tolist()]
    return res, labels, ing


def test_target_labels_win_and_clashes_become_exported() -> None:
    _, labels, _ = _ingest('a{job="inner",exported_job="x"} 1\n')
    # As Prometheus: the clashing job moves to the first free exported_* name.
    assert labels == [
        Labels({"__name__": "a", "job": "j", "instance": "h:1", "exported_job": "x",
                "exported_exported_job": "inner"})
    ]


def test_exported_prefix_for_a_plain_clash() -> None:
    assert merge_target_labels([("job", "inner")], TARGET, honor=False) == {
        "job": "j", "instance": "h:1", "exported_job": "inner"}


def test_honor_labels_keeps_scraped_values() -> None:
    _, labels, _ = _ingest('a{job="inner"} 1\n', IngestOptions(honor_labels=True))
    assert labels == [Labels({"__name__": "a", "job": "inner", "instance": "h:1"})]


def test_metric_relabel_drops_and_rewrites() -> None:
    rules = (
        RelabelConfig.model_validate({"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}),
        RelabelConfig.model_validate({"source_labels": ["code"], "target_label": "class",
                                      "regex": "(\\d)..", "replacement": "${1}xx"}),
    )
    res, labels, _ = _ingest('go_x 1\nhttp{code="404"} 2\n', IngestOptions(metric_relabel=rules))
    assert res.scraped == 2 and res.post_relabel == 1
    assert labels[0].get("class") == "4xx"


def test_steady_state_uses_the_cache_and_sees_new_values() -> None:
    text1 = 'a{x="1"} 1\nb 2 1234\n# TYPE c gauge\nc 3\n'
    storage = MemoryStorage()
    app = storage.appender()
    ing2 = Ingester(TARGET, IngestOptions(honor_timestamps=True))
    r1 = ing2.ingest(text1, False, app, 1000)
    r2 = ing2.ingest(text1.replace(" 1\n", " 10\n").replace("c 3", "c 4"), False, app, 2000)
    assert r1.refs.tolist() == r2.refs.tolist()
    assert r2.values.tolist() == [10.0, 4.0]
    assert r2.timestamped == [(r1.timestamped[0][0], 1234, 2.0)]
    assert ing2.metadata["c"].type == "gauge"


def test_a_bad_value_on_a_cached_line_names_the_line() -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    ing.ingest("a 1\nb 2\n", False, storage.appender(), 1)
    with pytest.raises(ScrapeError, match="line 2: invalid value 'x'"):
        ing.ingest("a 1\nb x\n", False, storage.appender(), 2)


def test_duplicates_are_counted_and_dropped() -> None:
    res, _, _ = _ingest("a 1\na 2\nb 3\n")
    assert res.duplicates == 1
    assert res.values.tolist() == [1.0, 3.0]


def test_sample_limit_fails_the_scrape() -> None:
    with pytest.raises(ScrapeError, match="sample limit exceeded"):
        _ingest("a 1\nb 2\nc 3\n", IngestOptions(sample_limit=2))


def test_label_limit_fails_the_scrape() -> None:
    with pytest.raises(ScrapeError, match="label_limit exceeded"):
        _ingest('a{x="1",y="2"} 1\n', IngestOptions(label_limit=4))


def test_label_value_length_limit() -> None:
    with pytest.raises(ScrapeError, match="label_value_length_limit exceeded"):
        _ingest('a{x="' + "v" * 100 + '"} 1\n', IngestOptions(label_value_length_limit=50))


def test_openmetrics_timestamps_are_seconds() -> None:
    res, _, _ = _ingest("a 1 1.5\n# EOF\n", IngestOptions(), om=True)
    assert res.timestamped[0][1:] == (1500, 1.0)


def test_steady_state_notices_metadata_changes_and_counts_dropped_series() -> None:
    drop = {"source_labels": ["__name__"], "regex": "drop_me", "action": "drop"}
    rules = (RelabelConfig.model_validate(drop),)
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions(metric_relabel=rules))
    text = "# TYPE c gauge\nc 1\ndrop_me 2\n"
    for i in range(2):
        res = ing.ingest(text, False, storage.appender(), i)
        assert (res.scraped, res.post_relabel) == (2, 1)
    assert ing.metadata["c"].type == "gauge"
    res = ing.ingest(text.replace("gauge", "counter"), False, storage.appender(), 3)
    assert ing.metadata["c"].type == "counter"
    assert res.values.tolist() == [1.0]


def test_empty_target_label_values_are_absent() -> None:
    storage = MemoryStorage()
    ing = Ingester([("env", ""), ("job", "j")], IngestOptions())
    res = ing.ingest("a 1\n", False, storage.appender(), 0)
    assert storage._series[int(res.refs[0])].labels == Labels({"__name__": "a", "job": "j"})
