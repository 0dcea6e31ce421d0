"""A body repeating the last one's series lines: only values are read, with the same results
as the line-by-line path for every body (a fresh ingester on the same store is the oracle)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.scrape.fastpath import split
from guardia.scrape.ingest import Ingester, IngestOptions, IngestResult, ScrapeError
from guardia.storage.memory import MemoryStorage

TARGET = [("instance", "h:1"), ("job", "j")]

BODY = """# HELP a_total Requests, by code.
# TYPE a_total counter
a_total{code="200"} {v0}
a_total{code="500"} {v1}
# a plain comment with spaces
b{x="with space",y="z"} {v2}
drop_me{k="1"} {v3}
a_total{code="200"} {v4}
c {v5}
"""

DROP = (RelabelConfig.model_validate({"source_labels": ["__name__"], "regex": "drop_me", "action": "drop"}),)


def _body(values: list[str], template: str = BODY) -> bytes:
    out = template
    for i, v in enumerate(values):
        out = out.replace(f"{{v{i}}}", v)
    return out.encode()


def _same(a: IngestResult, b: IngestResult) -> None:
    assert a.refs.tolist() == b.refs.tolist()
    np.testing.assert_array_equal(a.values.view(np.uint64), b.values.view(np.uint64))  # bit for bit
    assert (a.scraped, a.post_relabel, a.duplicates) == (b.scraped, b.post_relabel, b.duplicates)


def _oracle(storage: MemoryStorage, body: bytes, opts: IngestOptions) -> IngestResult:
    return Ingester(TARGET, opts).ingest(body.decode(), False, storage.appender(), 1)


def test_repeated_bodies_give_what_the_line_by_line_path_gives() -> None:
    opts = IngestOptions(metric_relabel=DROP)
    storage = MemoryStorage()
    ing = Ingester(TARGET, opts)
    rng = random.Random(7)
    texts = ["0", "1", "-2.5", "1e3", "1.5E-07", "+4", "0.1", "123456789012345678901", "NaN", "+Inf", "-Inf",
             "-0", ".5", "7.", "1.7976931348623157e308", "5e-324", "0.30000000000000004", "12\r"]
    for i in range(60):
        body = _body([rng.choice(texts) for _ in range(6)])
        got = ing.ingest_body(body, False, storage.appender(), i)
        _same(got, _oracle(storage, body, opts))
        assert got.duplicates == 1 and got.scraped == 6 and got.post_relabel == 4
    # the repeat path did the work once the shape was known, except for bodies with a value
    # it leaves to the line path (here "12\r", which float() reads as 12)
    assert ing._repeat.hits >= 30
    assert ing.metadata["a_total"].type == "counter"


def test_a_changed_series_line_comment_or_order_goes_the_long_way() -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    first = b"# HELP m Old help.\n# TYPE m gauge\nm{a=\"1\"} 1\nm{a=\"2\"} 2\n"
    for body in (first, first.replace(b" 1\n", b" 5\n")):
        ing.ingest_body(body, False, storage.appender(), 1)
    for body in (
        first.replace(b'a="2"', b'a="3"'),  # a label value changed
        first.replace(b"Old help.", b"New help."),  # a comment changed
        first + b"m{a=\"4\"} 4\n",  # a line more
        b"# HELP m Old help.\n# TYPE m gauge\nm{a=\"2\"} 2\nm{a=\"1\"} 1\n",  # reordered
        first.replace(b" 2\n", b"\n"),  # a value gone: the line has no space left
    ):
        try:
            want: IngestResult | Exception = _oracle(storage, body, IngestOptions())
        except ScrapeError as e:
            want = e
        try:
            got: IngestResult | Exception = ing.ingest_body(body, False, storage.appender(), 2)
        except ScrapeError as e:
            got = e
        if isinstance(want, Exception):
            assert isinstance(got, ScrapeError) and str(got) == str(want)
        else:
            assert isinstance(got, IngestResult)
            _same(got, want)
    assert ing._repeat.hits == 0  # none of the changed bodies was taken for the remembered one

def test_help_text_changes_reach_the_metadata() -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    body = b"# HELP m Old help.\nm 1\n"
    for v in (b"1", b"2"):
        ing.ingest_body(body.replace(b"m 1", b"m " + v), False, storage.appender(), 1)
    ing.ingest_body(body.replace(b"Old", b"New"), False, storage.appender(), 2)
    assert ing.metadata["m"].help == "New help."


@pytest.mark.parametrize("bad", [b"x", b"1_000", b"\xd9\xa1", b"0x1p3", b"1.5.5", b""])
def test_a_bad_or_unusual_value_on_a_repeated_body_is_judged_by_the_line_path(bad: bytes) -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    ing.ingest_body(b"a 1\nb 2\n", False, storage.appender(), 1)
    ing.ingest_body(b"a 3\nb 4\n", False, storage.appender(), 2)
    assert ing._repeat.shape is not None
    body = b"a 5\nb " + bad + b"\n"
    try:
        want: IngestResult | str = _oracle(storage, body, IngestOptions())
    except (ScrapeError, UnicodeDecodeError) as e:
        want = type(e).__name__
    try:
        got: IngestResult | str = ing.ingest_body(body, False, storage.appender(), 3)
    except ScrapeError as e:
        got = type(e).__name__ if "line 2" in str(e) else str(e)
    if isinstance(want, IngestResult):
        assert isinstance(got, IngestResult)
        _same(got, want)
    else:
        assert got == "ScrapeError", got


def test_a_repeated_body_whose_lines_are_all_dropped_reads_its_values_either_way() -> None:
    """Every value line dropped by relabeling, and a value orjson does not read (NaN): the
    repeat path takes none of the values (before: an empty ``itemgetter`` raised TypeError,
    an "internal error" for the target)."""
    drop = (RelabelConfig.model_validate({"source_labels": ["__name__"], "regex": "s", "action": "drop"}),)
    ing = Ingester(TARGET, IngestOptions(metric_relabel=drop))
    storage = MemoryStorage()
    for value in ("NaN", "1", "NaN", "+Inf"):
        res = ing.ingest_body(f"# TYPE s gauge\ns {value}\n".encode(), False, storage.appender(), 1000)
        assert res.refs.size == 0 and res.values.size == 0 and res.scraped == 1
    assert ing._repeat is not None and ing._repeat.hits == 2


def test_a_body_without_a_space_after_a_good_one_names_its_line() -> None:
    """A target that has had series and then answers lines without any space: the line it
    cannot read is named (before: ``split`` raised IndexError, an "internal error")."""
    ing = Ingester(TARGET, IngestOptions())
    storage = MemoryStorage()
    ing.ingest_body(b"a 1\n", False, storage.appender(), 1000)
    assert split(b"garbage\n") is not None
    with pytest.raises(ScrapeError, match="line 1"):
        ing.ingest_body(b"garbage\n", False, storage.appender(), 2000)


def test_invalid_utf8_still_names_the_line() -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    ing.ingest_body(b'a{x="1"} 1\n', False, storage.appender(), 1)
    with pytest.raises(ScrapeError, match="line 2: invalid UTF-8"):
        ing.ingest_body(b'a{x="1"} 1\nb{x="\xff"} 2\n', False, storage.appender(), 2)


def test_a_body_without_a_final_newline_and_an_empty_body() -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    for i, body in enumerate([b"a 1\nb 2", b"a 1\nb 3", b"", b"a 4\nb 5\n", b"a 6\nb 7\n"]):
        got = ing.ingest_body(body, False, storage.appender(), i)
        _same(got, _oracle(storage, body, IngestOptions()))


def test_split_keeps_newlines_in_the_skeleton() -> None:
    # without them these two bodies would leave the same skeleton "a b "
    one = split(b"a b 1\n")
    two = split(b"a 1\nb 2\n")
    assert one is not None and two is not None and one[0] != two[0]
    assert split(b"no newline at the end") is None
    parts = split(b"# HELP x y z\nx 1.5\n\nx{a=\"b c\"} -2\n")
    assert parts is not None
    assert parts.values == b"1.5\n-2\n" and parts.lines.tolist() == [1, 3]
    # per line: its skeleton part's length, or -1 - its length when it has no value
    assert parts.cuts.tolist() == [-13, 2, -1, 11]


def test_the_cache_reset_after_a_series_gc_forgets_the_shape() -> None:
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    for v in (b"1", b"2"):
        ing.ingest_body(b"a " + v + b"\n", False, storage.appender(), 1)
    assert ing._repeat.shape is not None
    ing.reset()
    assert ing._repeat.shape is None
    got = ing.ingest_body(b"a 3\n", False, storage.appender(), 2)
    assert got.values.tolist() == [3.0] and not math.isnan(got.values[0])


def test_plain_numbers_read_by_orjson_equal_float_bit_for_bit() -> None:
    from guardia.scrape.fastpath import _json_numbers

    rng = random.Random(5)
    texts: list[str] = []
    for _ in range(300_000):
        c = rng.random()
        if c < 0.25:
            s = str(rng.randint(-(10**20), 10**20))
        elif c < 0.5:
            s = repr(rng.uniform(-1e6, 1e6))
        elif c < 0.65:
            s = f"{rng.uniform(-1e12, 1e12):.{rng.randint(0, 17)}e}"
        elif c < 0.8:  # any finite double, as Python writes it shortest
            x = np.frombuffer(rng.getrandbits(64).to_bytes(8, "little"), dtype=np.float64)[0]
            s = repr(float(x)) if np.isfinite(x) else "1"
        elif c < 0.9:  # long mantissas: rounding decided by the last digits
            whole, frac = rng.randint(0, 10**30), rng.randint(0, 10**30)
            s = f"{rng.randint(1, 9)}{whole}.{frac}e{rng.randint(-300, 250)}"
        else:
            s = rng.choice(["0", "-0.0", "0.0", "1e5", "1E-5", "1e+22", "1e-22", "9007199254740993",
                            "9007199254740993.0", "2.2250738585072011e-308", "2.2250738585072012e-308",
                            "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
                            "1.7976931348623157e308", "0.30000000000000004", "18446744073709551616",
                            "-9223372036854775809", "1.00000000000000011102230246251565404236316680908203125",
                            "1.00000000000000011102230246251565404236316680908203124"])
        texts.append(s)
    got = _json_numbers(("[" + ",".join(texts) + "]").encode(), len(texts))
    assert got is not None
    want = np.array([float(s) for s in texts])
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


@pytest.mark.parametrize("text", [b"-0", b"+1", b".5", b"5.", b"01", b"NaN", b"+Inf", b"1e", b"1e400", b"1,2",
                                  b"[1]", b"1\r", b"\t1"])
def test_values_json_reads_otherwise_are_left_to_float(text: bytes) -> None:
    from guardia.scrape.fastpath import _json_numbers

    assert _json_numbers(b"[1," + text + b"]", 2) is None


def test_new_series_made_in_one_batch_match_one_at_a_time(tmp_path: Path) -> None:
    """A first scrape's new series get their refs in one ``ref_many`` call: the same refs,
    WAL and cache as ``ref`` line by line (an appender without ``ref_many``), including a
    series repeated in the scrape, a timestamped line and a dropped one; a parse error
    halfway still creates the series read before it and caches no placeholder."""
    from guardia.storage.tsdb import TSDB

    body = (
        "# TYPE a counter\n"
        'a{x="1"} 1\n'
        'b{y="2"} 2 1000\n'
        'a{x="1"} 3\n'
        'a{x="1",} 4\n'
        'c 5\n'
        'drop_me 6\n'
        'd{z="é"} 7\n'
    )

    class OneByOne:
        def __init__(self, app: object) -> None:
            self.app = app

        def ref(self, labels: Labels) -> int:
            return self.app.ref(labels)  # type: ignore[attr-defined, no-any-return]

    results = []
    for i, wrap in enumerate((False, True)):
        db = TSDB.open(tmp_path / str(i))
        app = db.appender()
        ing = Ingester([("instance", "h:1"), ("job", "j")], IngestOptions(metric_relabel=DROP))
        res = ing.ingest(body, False, OneByOne(app) if wrap else app, 2000)  # type: ignore[arg-type]
        results.append((res.refs.tolist(), res.values.tolist(), res.timestamped, res.scraped,
                        res.duplicates, dict(ing._cache), bytes(db._pending_series)))
        db.close()
    assert results[0] == results[1]
    refs, _, stamped, scraped, dups, cache, _ = results[0]
    assert min(cache.values()) >= -2 and scraped == 7 and dups == 2 and stamped[0][1] == 1000
    assert len(refs) == 3  # a, c, d: b has its own timestamp, drop_me is dropped

    db = TSDB.open(tmp_path / "err")
    app = db.appender()
    ing = Ingester([("instance", "h:1"), ("job", "j")], IngestOptions())
    with pytest.raises(ScrapeError, match="line 3"):
        ing.ingest('a{x="1"} 1\nc 2\nbad{ 3\n', False, app, 2000)
    assert sorted(ing._cache.values()) == [0, 1]
    assert db.head.num_series == 2
    db.close()


_NAMES = ["a", "a_total", "h_bucket", "h_sum", "s", "ns:sub_x", "_u", "job", "up"]
_LABELS = ["x", "le", "quantile", "job", "instance", "__name__", "_p", "k9", "exported_job"]
_VALUES = ["", "1", "0.5", "+Inf", "1e3", "v", "with space", "é", "a=b", 'q\\"t', "x\\\\y", "l\\n2", ",}",
           "1_0"]
_SAMPLE_VALUES = ["1", "-0", "0.25", "NaN", "+Inf", "-Inf", "1e400", "0x1p3", "1_000", "1.5e-3", "abc", "nan",
                  ".5"]


def _random_line(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    pairs = [f'{rng.choice(_LABELS)}="{rng.choice(_VALUES)}"' for _ in range(rng.randint(0, 4))]
    braces = ""
    if pairs or rng.random() < 0.2:
        braces = "{" + ",".join(pairs) + ("," if pairs and rng.random() < 0.2 else "") + "}"
    line = f"{name}{braces} {rng.choice(_SAMPLE_VALUES)}"
    r = rng.random()
    if r < 0.1:
        line += f" {rng.choice(['1000', '-5', '1.5', 'x'])}"
    elif r < 0.15:
        line += ' # {t="1"} 2'
    elif r < 0.18:
        line = line.replace(" ", "\t", 1)
    elif r < 0.22:  # a value the pattern refuses after a series text it takes
        line = line.rpartition(" ")[0] + " " + rng.choice(["", "1\t", "1#", "#", "2\t3"])
    return line


@pytest.mark.parametrize("openmetrics", [False, True])
def test_new_lines_read_the_plain_way_match_the_general_way(openmetrics: bool) -> None:
    """``_plain_new`` (a new series line of the common shape, labels built in one sort)
    gives exactly the labels and value that ``parse_sample`` + bound normalisation +
    ``final_labels`` give, and declines every line it cannot take that way; random lines
    with escapes, empty and repeated labels, clashes with target labels, trailing commas,
    timestamps, exemplars, bucket bounds and odd values.

    The series texts it has taken apart are shared by all targets (``_SHAPES``): a second
    target with other labels (one of them a scraped label name), other metadata and the
    other format reads the same lines, from those shapes, with the same outcome as the
    general way; so do targets with the first one's label names but other values (their
    final labels are built from the sorted labels of the first, ``_Shape.built``), one of
    them with metadata under which ``h_bucket``'s ``le`` and ``s``'s ``quantile`` are no
    bounds, and one with a label fewer."""
    from guardia.model import textparse as P
    from guardia.scrape import ingest

    ingest._SHAPES.clear()
    targets = [(TARGET, ("# TYPE h histogram", "# TYPE s summary", "# TYPE a_total counter"), openmetrics),
               ([("x", "t"), ("zone", "z")], ("# TYPE h gauge", "# TYPE a summary"), not openmetrics),
               (TARGET, ("# TYPE h histogram", "# TYPE s summary", "# TYPE a_total counter"), openmetrics),
               ([("instance", "h:2"), ("job", "k")], ("# TYPE h gauge", "# TYPE s gauge"), openmetrics),
               ([("job", "j2"), ("instance", "")], ("# TYPE h histogram", "# TYPE s summary"), openmetrics),
               ([("instance", "h:3"), ("job", "j")], ("# TYPE h histogram", "# TYPE s summary"),
                not openmetrics)]
    for n, (target, comments, om) in enumerate(targets):
        rng = random.Random(7)
        ing = Ingester(target, IngestOptions())
        for c in comments:
            P.apply_comment(ing.metadata, P.parse_comment(c, 1, om))
        taken = 0
        for _ in range(6000):
            line = _random_line(rng)
            shaped = line.rpartition(" ")[0] in ingest._SHAPES
            key, _, value = line.rpartition(" ")
            got = ing._plain_new(line, key, value, om)
            try:
                s = P.parse_sample(line, 1, om)
            except P.ParseError:
                assert got is None, line
                continue
            labels = s.labels
            if labels and (s.name.endswith("_bucket") or s.name in ing.metadata):
                labels = ing._normalize_bounds(s.name, labels)
            try:
                final = ing.final_labels(s.name, labels, 1)
            except ScrapeError:
                assert got is None, line
                continue
            if got is None:
                continue
            taken += shaped if n else 1
            assert s.timestamp_ms is None and s.exemplar is None, line
            assert line[: s.series_end] == line.rpartition(" ")[0], line
            assert got[0] == final and type(got[0]) is Labels, line
            assert np.float64(got[1]).view(np.uint64) == np.float64(s.value).view(np.uint64), line
        assert taken > 500  # the common shape is common here too (from the shared shapes after the first)


def test_a_scrape_read_the_plain_way_equals_one_read_the_general_way() -> None:
    """Whole first and second scrapes of random bodies: the same refs, values, label sets in
    storage, cache and errors with the plain reading of new lines as without it."""
    rng = random.Random(11)
    for _ in range(40):
        lines = ["# TYPE h histogram", "# TYPE s summary"]
        lines += [_random_line(rng) for _ in range(rng.randint(1, 30))]
        body = "\n".join(lines) + "\n"
        outcomes = []
        for plain in (True, False):
            storage = MemoryStorage()
            ing = Ingester(TARGET, IngestOptions())
            ing._plain_labels = plain
            out: list[object] = []
            for ts in (1000, 2000):
                app = storage.appender()
                try:
                    res = ing.ingest(body, False, app, ts)
                except ScrapeError as e:
                    out.append(str(e))
                    continue
                out.append((res.refs.tolist(), res.values.view(np.uint64).tolist(), res.timestamped,
                            res.scraped, res.duplicates, dict(ing._cache)))
            out.append(list(storage._by_labels.items()))  # every label set, in the order made
            outcomes.append(out)
        assert outcomes[0] == outcomes[1], body


def _targets_first_scrapes(root: Path, plain: bool, bodies: list[str]) -> list[object]:
    """Targets of one job (and one of another, with a label fewer) first- and second-scrape
    ``bodies`` into one TSDB: what each scrape gave, the cache, the series record bytes, and
    the head read back after a restart (replayed from the WAL)."""
    from guardia.scrape import ingest
    from guardia.storage.tsdb import TSDB

    from ..storage.conftest import dump

    ingest._SHAPES.clear()
    db = TSDB.open(root)
    out: list[object] = []
    targets = [[("instance", f"h:{k}"), ("job", "j")] for k in range(4)] + [[("job", "other")]]
    ings = [Ingester(target, IngestOptions()) for target in targets]
    for ing in ings:
        ing._plain_labels = plain and ing._plain_labels
    for ts in (1000, 2000):
        for k, ing in enumerate(ings):
            app = db.appender()
            try:
                res = ing.ingest(bodies[k % len(bodies)], False, app, ts)
            except ScrapeError as e:
                out.append(str(e))
            else:
                app.append_batch(res.refs, ts, res.values)
                out.append((res.refs.tolist(), res.values.view(np.uint64).tolist(), res.timestamped,
                            res.scraped, res.duplicates))
            app.commit()
            out.append(sorted(ing._cache.items()))
    out.append(bytes(db._pending_series))
    db.close()
    again = TSDB.open(root)
    out.append(dump(again.querier(0, 10**9)))
    out.append(again.head.index.labels_of(np.arange(again.head.num_series)))
    again.close()
    return out


def test_targets_of_one_job_read_new_lines_as_the_general_way_does(tmp_path: Path) -> None:
    """Several targets reading the same new lines (from the shared ``_SHAPES`` and the
    final-label templates built for the first target with those label names): the same
    refs in the same order, values, caches, WAL series records and replayed head as with
    every line read the general way; with bucket bounds normalised by one target's
    metadata and not another's, a series repeated in a body, a clash with a target label,
    a timestamped line and a parse error halfway through one body (the series before it
    are created, none after it)."""
    good = (
        "# TYPE h histogram\n"
        'h_bucket{le="1",path="/a"} 1\n'
        'h_bucket{le="+Inf",path="/a"} 2\n'
        'h_bucket{le="1",path="/a"} 5\n'
        'up{job="scraped"} 1\n'
        'q{quantile="0.50"} 3\n'
        't{a="1"} 4 1500\n'
        'plain 5\n'
    )
    other = good.replace("# TYPE h histogram\n", "# TYPE h gauge\n# TYPE q summary\n")
    broken = good.replace("plain 5\n", "bad{ 6\nlater 7\n")
    for bodies in ([good, other], [good, broken, other]):
        got = [_targets_first_scrapes(tmp_path / f"{len(bodies)}-{plain}", plain, bodies)
               for plain in (True, False)]
        assert got[0] == got[1]
    assert any(isinstance(x, str) and "line 8" in x for x in got[0])


def test_a_store_that_cannot_create_the_series_leaves_no_placeholder() -> None:
    """``ref_many`` failing (the store refuses) raises, and the cache keeps nothing of that
    scrape's new series: the next scrape creates them as a first one would."""
    storage = MemoryStorage()

    class Refusing:
        def ref_many(self, sets: list[Labels]) -> list[int]:
            raise OSError("disk full")

    ing = Ingester(TARGET, IngestOptions())
    body = 'a{x="1"} 1\nb 2\na{x="1"} 3\n'
    with pytest.raises(OSError, match="disk full"):
        ing.ingest(body, False, Refusing(), 1000)  # type: ignore[arg-type]
    assert dict(ing._cache) == {}
    res = ing.ingest(body, False, storage.appender(), 2000)
    assert res.refs.tolist() == [0, 1] and res.duplicates == 1
    assert dict(ing._cache) == {'a{x="1"}': 0, "b": 1}
