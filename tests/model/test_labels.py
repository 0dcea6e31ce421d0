from guardia.model import Labels


def test_labels_are_sorted_and_order_independent() -> None:
    a = Labels({"job": "api", "__name__": "up", "instance": "x"})
    b = Labels([("instance", "x"), ("job", "api"), ("__name__", "up")])
    assert a == b
    assert hash(a) == hash(b)
    assert a.names() == ["__name__", "instance", "job"]


def test_empty_values_are_dropped_as_prometheus_does() -> None:
    assert Labels({"a": "", "b": "1"}) == Labels({"b": "1"})


def test_fingerprint_is_stable_across_processes() -> None:
    # Fixed value: a change here breaks persisted notification logs and group keys.
    assert Labels({"__name__": "up", "job": "api"}).fingerprint() == Labels(
        {"job": "api", "__name__": "up"}
    ).fingerprint()
    assert Labels({"a": "b"}).fingerprint() != Labels({"a": "c"}).fingerprint()
    assert Labels({"ab": "c"}).fingerprint() != Labels({"a": "bc"}).fingerprint()


def test_str_renders_prometheus_series_notation() -> None:
    assert str(Labels({"__name__": "up", "job": 'a"b'})) == 'up{job="a\\"b"}'
    assert str(Labels({"__name__": "up"})) == "up"


def test_set_without_only() -> None:
    ls = Labels({"__name__": "m", "a": "1", "b": "2"})
    assert ls.without_name() == Labels({"a": "1", "b": "2"})
    assert ls.only("a") == Labels({"a": "1"})
    assert ls.set("a", "") == Labels({"__name__": "m", "b": "2"})
    assert ls.get("missing") == ""
    assert "a" in ls and "zz" not in ls
