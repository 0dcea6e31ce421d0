"""An agent's numpy-free ``Ingester`` gives what the numpy one gives: the same refs, values bit
for bit, counts, timestamped samples, label sets made (in the same order) and errors, scrape
after scrape, for random bodies that repeat, change, drop series by relabeling, repeat a series
within a body, carry timestamps, and churn."""

from __future__ import annotations

import random
import struct
from array import array

import pytest

from guardia.config.relabel import RelabelConfig
from guardia.model import textparse as P
from guardia.scrape.ingest import Ingester, IngestOptions, IngestResult, ScrapeError
from guardia.storage.memory import MemoryStorage
from tests.scrape.test_fastpath import TARGET, _random_line

DROP = (RelabelConfig.model_validate({"source_labels": ["__name__"], "regex": "s|job", "action": "drop"}),)


def _bits(values: object) -> list[int]:
    return [struct.unpack("<Q", struct.pack("<d", v))[0] for v in values]  # type: ignore[attr-defined]


def _outcome(res: IngestResult) -> tuple[object, ...]:
    stamped = [(r, t, *_bits([v])) for r, t, v in res.timestamped]
    return (res.refs.tolist(), _bits(res.values), stamped, res.scraped, res.duplicates, res.post_relabel)


def _line(rng: random.Random) -> str:
    """A random line, one the parser takes but one time in twenty."""
    while True:
        line = _random_line(rng)
        try:
            P.parse_sample(line, 1, False)
        except P.ParseError:
            if rng.random() < 0.05:
                return line
            continue
        return line


def _bodies(rng: random.Random) -> list[bytes]:
    """A target's bodies: a random set of lines, then the same lines with other values, with a
    line repeated, with lines gone and new ones (churn), in another order."""
    lines = ["# TYPE h histogram", "# HELP a_total Requests.", "# TYPE a_total counter"]
    lines += [_line(rng) for _ in range(rng.randint(1, 40))]
    out = []
    for _ in range(6):
        r = rng.random()
        if r < 0.2:
            lines.append(rng.choice(lines))  # a series twice in a body
        elif r < 0.35:
            lines = [ln for ln in lines if rng.random() < 0.8] + [_line(rng) for _ in range(3)]
        elif r < 0.45:
            rng.shuffle(lines)
        else:  # new values on the same series lines
            lines = [ln.rpartition(" ")[0] + " " + rng.choice(["1", "2.5", "-3", "NaN", "+Inf", "1e3"])
                     if ln and not ln.startswith("#") and " # " not in ln else ln for ln in lines]
        out.append(("\n".join(lines) + "\n").encode())
    return out


@pytest.mark.parametrize("opts", [IngestOptions(), IngestOptions(metric_relabel=DROP, honor_timestamps=False),
                                  IngestOptions(sample_limit=25)], ids=["plain", "relabel", "limit"])
def test_a_numpy_free_ingester_gives_what_the_numpy_one_gives(opts: IngestOptions) -> None:
    rng = random.Random(3)
    fast_hits = 0
    for _ in range(60):
        bodies = _bodies(rng)
        outcomes = []
        for numpy_free in (False, True):
            storage = MemoryStorage()
            ing = Ingester(TARGET, opts, numpy_free=numpy_free)
            out: list[object] = []
            for i, body in enumerate(bodies):
                try:
                    res = ing.ingest_body(body, False, storage.appender(), 1000 * i)
                except ScrapeError as e:
                    out.append(str(e))
                    continue
                if numpy_free:
                    assert isinstance(res.refs, array) and isinstance(res.values, array)
                out.append(_outcome(res))
            out.append(list(storage._by_labels.items()))  # every label set, in the order made
            outcomes.append(out)
            if not numpy_free:
                assert ing._repeat is not None
                fast_hits += ing._repeat.hits
            else:
                assert ing._repeat is None and ing._proto_repeat is None
        assert outcomes[0] == outcomes[1], bodies
    assert fast_hits >= 10  # the numpy side did take its repeat shortcut: both ways were compared


def test_duplicates_keep_the_first_line_of_a_series_both_ways() -> None:
    body = b'a 1\nb 2\na 3\nc 4\nb 5\n'
    for numpy_free in (False, True):
        ing = Ingester(TARGET, IngestOptions(), numpy_free=numpy_free)
        storage = MemoryStorage()
        for i in range(2):  # a first scrape, then one from the cache
            res = ing.ingest_body(body, False, storage.appender(), i)
            assert res.refs.tolist() == [0, 1, 2] and list(res.values) == [1.0, 2.0, 4.0]
            assert (res.duplicates, res.scraped) == (2, 5)
