"""``split_like`` (a body cut where the remembered one was) against ``split`` (the general cut):
on random bodies and on adversarial changes of them, ``split_like``'s digest equals the
remembered one exactly when ``split``'s does, and then both give the same values; through an
``Ingester`` every scrape equals the line-by-line oracle's."""

from __future__ import annotations

import random

import numpy as np
import pytest

from guardia.scrape.fastpath import Parts, split, split_like
from guardia.scrape.ingest import Ingester, IngestOptions, IngestResult, ScrapeError
from guardia.storage.memory import MemoryStorage

TARGET = [("instance", "h:1"), ("job", "j")]
VALUES = ["0", "1", "17", "-2.5", "1e3", "1.5E-07", "+4", "0.1", "123456789012345678901", "NaN",
          "+Inf", "-Inf", "-0", ".5", "7.", "5e-324", "0.30000000000000004", "12\r", "x", "", "1_0", "\t3",
          "1,2", "[1]", "]", "[", "1e-0", "-0e0", "true", "null", "\"1\"", "{}"]


def _line(rng: random.Random, valid: bool = False) -> str:
    """One line of any kind the text format has (and some it does not, unless ``valid``)."""
    k = rng.random()
    name = rng.choice(["a_total", "b", "c_bucket"] if valid else ["a_total", "b", "c_bucket", "d{x=\"1\"}"])
    if valid:
        return "# a comment, with spaces" if k < 0.1 else f"{name}{{l=\"{rng.choice(['v', 'a b', 'c'])}\"}} 1"
    if k < 0.1:
        return f"# HELP {name} help with spaces {rng.randint(0, 9)}"
    if k < 0.15:
        return f"# TYPE {name} {rng.choice(['counter', 'gauge'])}"
    if k < 0.18:
        return rng.choice(["", "no_space_here", "#", "# ", " "])
    labels = ",".join(f'l{i}="{rng.choice(["v", "with space", "q", "1 2"])}"'
                      for i in range(rng.randint(0, 3)))
    series = f"{name}{{{labels}}}" if labels and "{" not in name else name
    if k < 0.22:
        return f"{series} {rng.choice(VALUES)} 1700000000{rng.randint(0, 9)}"  # with a timestamp
    return f"{series} {rng.choice(VALUES[:9])}"


def _body(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _revalue(body: bytes, rng: random.Random, values: list[str]) -> bytes:
    """The same body with new values: each value line's text after its last space replaced."""
    out = []
    for line in body.split(b"\n")[:-1]:
        head, sp, _ = line.rpartition(b" ")
        out.append(head + sp + rng.choice(values).encode() if sp and not line.startswith(b"#") else line)
    return b"\n".join(out) + b"\n"


def _mutations(body: bytes, rng: random.Random) -> list[bytes]:
    """Changes of the skeleton, small and large, that must not pass for the old one."""
    lines = body.split(b"\n")[:-1]
    out: list[bytes] = []
    for _ in range(6):  # one byte changed anywhere, to anything the format treats specially or not
        i = rng.randrange(len(body) - 1)
        out.append(body[:i] + rng.choice([b" ", b"\n", b"#", b"a", b"1", b"\t", b"\xff", b""]) + body[i + 1:])
    for _ in range(3):
        i = rng.randrange(len(body) - 1)
        out.append(body[:i] + rng.choice([b" ", b"\n", b"x", b"# "]) + body[i:])  # a byte inserted
    if len(lines) > 1:
        i, j = rng.sample(range(len(lines)), 2)
        moved = lines[:]
        moved.insert(j, moved.pop(i))
        out.append(b"\n".join(moved) + b"\n")  # a line moved
        out.append(b"\n".join(lines[:i] + lines[i + 1:]) + b"\n")  # a line gone
        out.append(b"\n".join([*lines[:i], lines[i], lines[i], *lines[i + 1:]]) + b"\n")  # one twice
    for i, line in enumerate(lines):  # one line at a time: a label or comment changed, same length
        if b'"' in line or line.startswith(b"#"):
            k = line.find(b'"') + 1 if b'"' in line else len(line) - 1
            changed = line[:k] + (b"Z" if line[k:k + 1] != b"Z" else b"Y") + line[k + 1:]
            out.append(b"\n".join([*lines[:i], changed, *lines[i + 1:]]) + b"\n")
            break
    for i, line in enumerate(lines):  # a value line's last space removed or doubled
        if b" " in line and not line.startswith(b"#"):
            head, _, tail = line.rpartition(b" ")
            for changed in (head + tail, head + b"  " + tail, head + b" 1 " + tail, b"# " + line):
                out.append(b"\n".join([*lines[:i], changed, *lines[i + 1:]]) + b"\n")
            break
    out.append(body[:-1])  # no final newline
    out.append(body + b"\n")  # an empty line more
    return out


def _check(remembered: Parts, body: bytes) -> bool:
    """``split_like`` and ``split`` agree on ``body`` against the remembered parts; True when
    the body was taken for the remembered one."""
    general = split(body)
    like = split_like(body, remembered.cuts.astype(np.int16))
    same = general is not None and general.digest == remembered.digest
    assert (like is not None and like[0] == remembered.digest) == same, body
    if same:
        assert like is not None and general is not None
        assert like[1] == _json(general.values) and like[2] == general.lines.shape[0]
    return same


def _json(values: bytes) -> bytes:
    """``split``'s values as ``split_like`` gives them: one JSON array."""
    return b"[" + values[:-1].replace(b"\n", b",") + b"]"


@pytest.mark.parametrize("seed", range(40))
def test_cut_like_the_last_body_agrees_with_the_general_cut(seed: int) -> None:
    rng = random.Random(seed)
    body = _body([_line(rng) for _ in range(rng.randint(1, 30))])
    remembered = split(body)
    assert remembered is not None
    assert _check(remembered, body)
    for _ in range(10):  # new values of any length: the same skeleton, when no value has a space
        revalued = _revalue(body, rng, VALUES)
        assert _check(remembered, revalued) == (revalued.count(b" ") == body.count(b" ") or
                                                split(revalued) == split(body))
        assert _check(remembered, _revalue(body, rng, VALUES[:9]))  # plain values: always taken
    for changed in _mutations(body, rng) + _mutations(_revalue(body, rng, VALUES[:9]), rng):
        if changed != body:
            _check(remembered, changed)


def test_cuts_of_an_unusual_body() -> None:
    cuts = np.array([2, -1, 2], dtype=np.int16)
    assert split_like(b"", cuts) is None
    assert split_like(b"a 1\n\nb 2", cuts) is None  # no final newline
    assert split_like(b"a 1\n\n", cuts) is None  # a line fewer
    assert split_like(b"a 1\nx\nb 2\n", cuts) is None  # a line without a value grew
    assert split_like(b"a 1\n\nb\n", cuts) is None  # a line shorter than its skeleton part
    assert split_like(b"a 1\n\nb 2 3\n", cuts) is None  # a space in what would be the value
    got = split_like(b"a 10\n\nb -2.5e3\n", cuts)
    parts = split(b"a 10\n\nb -2.5e3\n")
    assert got is not None and parts is not None and got == (parts.digest, b"[10,-2.5e3]", 2)
    assert parts.values == b"10\n-2.5e3\n"
    got = split_like(b"# only\n", np.array([-7], dtype=np.int16))
    parts = split(b"# only\n")
    assert got is not None and parts is not None and got == (parts.digest, b"[]", 0)


def _ingest(ing: Ingester, storage: MemoryStorage, body: bytes) -> IngestResult | str:
    try:
        return ing.ingest_body(body, False, storage.appender(), 1)
    except ScrapeError as e:
        return str(e)


@pytest.mark.parametrize("seed", range(12))
def test_an_ingester_fed_changed_bodies_gives_what_the_line_path_gives(seed: int) -> None:
    """Scrapes alternating between a repeated body with new values and changed ones: each
    equals what the same ingester without the repeat path gives (refs, values bit for bit,
    counts, errors: the line path of an ingester that read the same bodies before)."""
    rng = random.Random(100 + seed)
    storage = MemoryStorage()
    ing = Ingester(TARGET, IngestOptions())
    lines_only = Ingester(TARGET, IngestOptions())
    lines_only._repeat = None
    base = _body(["# HELP b Help, with spaces.", "# TYPE b gauge",
                  *(_line(rng, True) for _ in range(rng.randint(2, 25)))])
    bodies = [_revalue(base, rng, VALUES[:9]) for _ in range(4)]
    bodies += _mutations(_revalue(base, rng, VALUES), rng)
    rng.shuffle(bodies)
    for body in [base] + [b for m in bodies for b in (m, _revalue(base, rng, VALUES[:9]))]:
        got = _ingest(ing, storage, body)
        want = _ingest(lines_only, storage, body)
        if isinstance(want, str):
            assert got == want
            continue
        assert isinstance(got, IngestResult)
        assert got.refs.tolist() == want.refs.tolist()  # type: ignore[union-attr]
        np.testing.assert_array_equal(np.asarray(got.values).view(np.uint64),
                                      np.asarray(want.values).view(np.uint64))
        assert (got.scraped, got.post_relabel, got.duplicates) == (want.scraped, want.post_relabel,
                                                                   want.duplicates)
    assert ing._repeat is not None and ing._repeat.hits >= 4  # the repeated bodies took the repeat path


def test_a_known_comment_changed_into_a_bad_one_names_its_line() -> None:
    """"# TYPE m gauge" known, then "# TYPE m gaugex": the cached path names the line as the
    first reading does (it let the parser's own error out before: an "internal error")."""
    storage = MemoryStorage()
    for repeat in (True, False):
        ing = Ingester(TARGET, IngestOptions())
        if not repeat:
            ing._repeat = None
        for v in (b"1", b"2"):
            ing.ingest_body(b"# TYPE m gauge\nm " + v + b"\n", False, storage.appender(), 1)
        with pytest.raises(ScrapeError, match=r"^line 1: invalid metric type 'gaugex' for 'm'"):
            ing.ingest_body(b"# TYPE m gaugex\nm 3\n", False, storage.appender(), 2)
