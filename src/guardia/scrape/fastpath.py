"""A target's body that repeats the last one's series lines: only its values are read.

Most scrapes of a target return the same lines as the scrape before, in the same order,
with other values.  ``Ingester`` resolves every line through its cache of series texts;
this goes one step further and treats the whole body at once with numpy over its bytes:
it cuts each sample line's value (the text after the line's last space) out of the body,
and when what remains (the body's *skeleton*: every comment, every series text, every
newline) is byte-identical to the skeleton of the last scrape that went through the
cached path, the refs, the dropped and duplicate lines and the metadata are the last
scrape's, and only the values are parsed: by orjson in one call when they are all plain
JSON numbers, else by ``float`` (the function the cached path uses), with the same results
bit for bit.

The skeleton is not kept: its SHA-256 digest is (32 bytes per target, where the skeleton
itself is most of the body's size).  A match is therefore exact short of a SHA-256
collision.  Anything unusual (a body without a final newline, a value that is not plain
ASCII, an underscore, a value ``float`` refuses) answers None and the scrape goes the
line-by-line way, which says what is wrong and where.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import numpy.typing as npt
import orjson

_NL = 10
_SPACE = 32
_HASH = 35
_JSON_NUMBER_BYTES = b"0123456789+-.eE\n"


@dataclass(slots=True)
class Shape:
    """What the last scrape with this skeleton resolved to."""

    digest: bytes
    refs: npt.NDArray[np.int64]  # final refs (after drops and duplicates), in order
    take: tuple[int, ...] | None  # which value lines give them (None: all, in order)
    scraped: int
    dropped: int
    duplicates: int


def split(body: bytes) -> tuple[bytes, bytes, npt.NDArray[np.int64]] | None:
    """(skeleton digest, the value texts each followed by a newline, line number of each
    value line), or None when the body does not end with a newline."""
    if not body or body[-1] != _NL:
        return None
    a = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(a == _NL)
    sp = np.flatnonzero(a == _SPACE)
    starts = np.empty_like(nl)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    # the last space before each line's end; a line without one (or a comment) has no value
    last = np.searchsorted(sp, nl) - 1
    has = last >= 0
    last_sp = np.where(has, sp[np.maximum(last, 0)], -1) if sp.size else np.full_like(nl, -1)
    is_value = has & (last_sp >= starts) & (a[np.minimum(starts, a.size - 1)] != _HASH)
    lines = np.flatnonzero(is_value)
    vs = last_sp[lines] + 1
    ve = nl[lines]  # the newline ending the value
    keep = np.ones(a.size, dtype=np.bool_)
    if lines.size:
        # every byte of every value and its newline, as positions: each value's start
        # repeated over its length, plus the offset within it
        n = ve - vs + 1
        ends = np.cumsum(n)
        pos = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(vs - (ends - n), n)
        values = a[pos].tobytes()
        keep[pos] = False
        keep[ve] = True  # the skeleton keeps the newlines (else "a 1\nb 2" would be "a b ")
    else:
        values = b""
    digest = hashlib.sha256(a[keep].data).digest()
    return digest, values, lines


def _plain_numbers(values: bytes) -> npt.NDArray[np.float64] | None:
    """Values written as JSON numbers (digits, sign, point, exponent: what almost every exporter
    writes), read by orjson in one call; None when any is written otherwise (NaN, +Inf, a
    leading "+" or ".", "-0", which JSON reads as the integer 0) and ``float`` must read them.

    orjson (a dependency already, for the API) reads numbers correctly rounded, as ``float``
    does, at a fifth of the cost of calling ``float`` once per value (test_fastpath checks
    the two agree bit for bit on 300,000 values, hard cases included)."""
    if values.translate(None, _JSON_NUMBER_BYTES) or values.startswith(b"-0\n") or b"\n-0\n" in values:
        return None
    try:
        parsed = orjson.loads(b"[" + values[:-1].replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:  # "01", "1.", "1e" and the like: float() judges them
        return None
    out = np.array(parsed, dtype=np.float64)
    if out.ndim != 1 or out.shape[0] != values.count(b"\n"):
        return None
    return out


class RepeatBody:
    """Per target: the last skeleton's digest and what it resolved to."""

    __slots__ = ("hits", "shape")

    def __init__(self) -> None:
        self.shape: Shape | None = None
        self.hits = 0  # scrapes answered here (tests and profiles read it)

    def clear(self) -> None:
        self.shape = None

    def match(
        self, parts: tuple[bytes, bytes, npt.NDArray[np.int64]] | None
    ) -> tuple[Shape, npt.NDArray[np.float64]] | None:
        """The last scrape's shape and this body's values, when the skeleton is the same."""
        sh = self.shape
        if sh is None or parts is None or parts[0] != sh.digest:
            return None
        values = parts[1]
        if not values.isascii() or b"_" in values:
            return None  # the line-by-line path reads (or refuses) these the way it always has
        vals = _plain_numbers(values)
        if vals is not None:
            if sh.take is not None:
                vals = vals[np.array(sh.take, dtype=np.intp)]
        else:
            texts = values.split(b"\n")
            texts.pop()
            if sh.take is not None:
                texts = list(itemgetter(*sh.take)(texts)) if len(sh.take) > 1 else [texts[i] for i in sh.take]
            try:
                vals = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
            except ValueError:
                return None
        self.hits += 1
        return sh, vals

    def remember(
        self,
        parts: tuple[bytes, bytes, npt.NDArray[np.int64]] | None,
        line_refs: npt.NDArray[np.int64],
        keep: npt.NDArray[np.intp] | None,
        refs: npt.NDArray[np.int64],
        scraped: int,
        dropped: int,
        duplicates: int,
    ) -> None:
        """Keep the shape of a scrape that the cached path resolved: ``line_refs`` is the
        cache's answer for every line (-1 dropped, -2 comment), ``keep`` which of the
        resolved lines survived the duplicate check (None: all)."""
        self.shape = None
        if parts is None:
            return
        digest, _, lines = parts
        per_value = line_refs[lines]
        if int(np.count_nonzero(per_value == -1)) != dropped or bool((per_value < -1).any()) or \
                int(np.count_nonzero(per_value >= 0)) != int(np.count_nonzero(line_refs >= 0)):
            return  # lines classified differently than the cache did: not worth the risk
        take = np.flatnonzero(per_value >= 0)
        if keep is not None:
            take = take[keep]
        all_lines = take.size == lines.size and bool((take == np.arange(lines.size)).all())
        self.shape = Shape(digest, refs, None if all_lines else tuple(take.tolist()), scraped, dropped,
                           duplicates)
