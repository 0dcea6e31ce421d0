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

The skeleton is not kept: its BLAKE3 digest is (32 bytes per target, where the skeleton
itself is most of the body's size).  A match is therefore exact short of a BLAKE3
collision (a cryptographic hash with SHA-256's 128-bit collision resistance, which it
replaced here at a quarter of the CPU: 23 against 90 us for a 150 KB skeleton).  Anything
unusual (a body without a final newline, a value that is not plain ASCII, an underscore, a
value ``float`` refuses) answers None and the scrape goes the line-by-line way, which says
what is wrong and where.

Once a shape is known the next body is cut where the last one was (``split_like``): each
line's skeleton part is as long as last time, so only the newlines are looked for, not the
spaces, and the digest of the skeleton cut that way equals the remembered one exactly when
``split`` would have given the same (see ``split_like``); anything else goes through
``split``.  The per-line lengths cost 2 bytes a line per target.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import orjson
from blake3 import blake3

_NL = 10
_SPACE = 32
_HASH = 35
_OPEN, _COMMA, _CLOSE = 91, 44, 93  # "[", ",", "]"
_JSON_NUMBER_BYTES = b"0123456789+-.eE,[]"


@dataclass(slots=True)
class Shape:
    """What the last scrape with this skeleton resolved to."""

    digest: bytes
    refs: npt.NDArray[np.int64]  # final refs (after drops and duplicates), in order
    take: npt.NDArray[np.intp] | None  # which value lines give them (None: all, in order)
    scraped: int
    dropped: int
    duplicates: int
    # per line, the length of its skeleton part: the bytes before its value, or -1 - the
    # line's length for a line without a value (int16 while every line fits, else int32)
    cuts: npt.NDArray[np.int16] | npt.NDArray[np.int32]


class Parts(NamedTuple):
    """A text body cut into its skeleton's digest and its values (``split``)."""

    digest: bytes
    values: bytes  # the value texts, each followed by a newline
    lines: npt.NDArray[np.int64]  # line number of each value line
    cuts: npt.NDArray[np.int64]  # as ``Shape.cuts``


def _cut(a: npt.NDArray[np.uint8], vs: npt.NDArray[np.int64], ve: npt.NDArray[np.int64],
         json: bool = False) -> tuple[bytes, bytes]:
    """(the digest of ``a`` without the bytes ``vs[i]:ve[i]``, those bytes each followed by
    the newline at ``ve[i]``, or with ``json`` as one JSON array "[v0,v1,...]"): the
    skeleton keeps the newlines (else "a 1\nb 2" would be "a b ")."""
    keep = np.ones(a.size, dtype=np.bool_)
    if vs.size:
        # every byte of every value and its newline, as positions: each value's start
        # repeated over its length, plus the offset within it
        n = ve - vs + 1
        ends = np.cumsum(n)
        pos = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(vs - (ends - n), n)
        if json:
            out = np.empty(pos.shape[0] + 1, dtype=np.uint8)
            out[0] = _OPEN
            out[1:] = a[pos]
            out[ends] = _COMMA  # each value's newline, one place on
            out[-1] = _CLOSE
            values = out.tobytes()
        else:
            values = a[pos].tobytes()
        keep[pos] = False
        keep[ve] = True
    else:
        values = b"[]" if json else b""
    return blake3(a[keep].data).digest(), values


def split(body: bytes) -> Parts | None:
    """The body's skeleton digest, values, value lines and per-line cuts, or None when the
    body does not end with a newline."""
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
    digest, values = _cut(a, vs, ve)
    cuts = np.where(is_value, last_sp + 1 - starts, -1 - (nl - starts))
    return Parts(digest, values, lines, cuts)


def split_like(
    body: bytes, cuts: npt.NDArray[np.int16] | npt.NDArray[np.int32]
) -> tuple[bytes, bytes, int] | None:
    """``split``'s digest, its values as one JSON array (the text between the brackets is
    ``split``'s values with commas for newlines) and how many, for a body cut where the
    remembered one was (``cuts``):
    None when its lines cannot be cut so (another number of lines, a line shorter than its
    skeleton part, a line without a value that is not exactly as long as before, a space in
    a value), which ``split`` would never find equal to the remembered skeleton.

    Only the newlines are looked for.  When the digest equals the remembered one, ``split``
    gives the same digest and values: each line's skeleton part is then byte for byte the
    remembered line's (the skeleton splits at its newlines into them), so a value line's
    part ends with the space ``split`` found last, its value has no space after it (checked
    here) and it does not start with "#"; a line without a value is the remembered line
    whole.  And conversely, a body that ``split`` finds equal has those same cuts."""
    if not body or body[-1] != _NL:
        return None
    a = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(a == _NL)
    if nl.shape[0] != cuts.shape[0]:
        return None
    c = cuts.astype(np.int64)
    has = c >= 0
    vs = np.where(has, c, -1 - c)  # the skeleton part's length
    vs[1:] += nl[:-1] + 1  # + the line's start: where its value starts
    n = nl - vs
    if bool((n < 0).any()) or bool(n[~has].any()):
        return None
    if not has.all():
        vs = vs[has]
        nl = nl[has]
    digest, values = _cut(a, vs, nl, json=True)
    if b" " in values:
        return None
    return digest, values, vs.shape[0]


def _json_numbers(text: bytes, count: int) -> npt.NDArray[np.float64] | None:
    """``count`` values in a JSON array written as JSON numbers (digits, sign, point, exponent:
    what almost every exporter writes), read by orjson in one call; None when any is written
    otherwise (NaN, +Inf, a leading "+" or ".", "-0", which JSON reads as the integer 0) and
    ``float`` must read them.

    orjson (a dependency already, for the API) reads numbers correctly rounded, as ``float``
    does, at a fifth of the cost of calling ``float`` once per value (test_fastpath checks
    the two agree bit for bit on 300,000 values, hard cases included).  ``struct`` packs
    them (an int as ``float(int)`` does) in two thirds of ``np.array``'s time."""
    if text.translate(None, _JSON_NUMBER_BYTES) or b"-0," in text or b"-0]" in text:
        return None  # "-0" (or "1e-0", read by float() to the same double: rare, not wrong)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:  # "01", "1.", "1e" and the like: float() judges them
        return None
    if not isinstance(parsed, list) or len(parsed) != count:
        return None  # a value with a comma in it (for the line path to refuse)
    try:
        return np.frombuffer(struct.pack(f"{count}d", *parsed), dtype=np.float64)
    except (struct.error, TypeError):  # "[[1]]": a bracket in a value (the line path refuses it)
        return None


class RepeatBody:
    """Per target: the last skeleton's digest and what it resolved to."""

    __slots__ = ("hits", "shape")

    def __init__(self) -> None:
        self.shape: Shape | None = None
        self.hits = 0  # scrapes answered here (tests and profiles read it)

    def clear(self) -> None:
        self.shape = None

    def read(self, body: bytes) -> tuple[tuple[Shape, npt.NDArray[np.float64]] | None, Parts | None]:
        """(the last scrape's shape and this body's values, None) when the body's skeleton is
        the last one's, else (None, ``split`` of the body, for ``remember``)."""
        sh = self.shape
        if sh is not None:
            got = split_like(body, sh.cuts)
            if got is not None and got[0] == sh.digest:
                vals = self._values(sh, got[1], got[2])
                if vals is not None:
                    self.hits += 1
                    return (sh, vals), None
        return None, split(body)

    @staticmethod
    def _values(sh: Shape, text: bytes, count: int) -> npt.NDArray[np.float64] | None:
        """The values the shape takes (``text`` a JSON array of ``count``), or None when one is
        for the line-by-line path to read."""
        if not text.isascii() or b"_" in text:
            return None  # the line-by-line path reads (or refuses) these the way it always has
        vals = _json_numbers(text, count)
        if vals is not None:
            if sh.take is not None:
                vals = vals[sh.take]
            return vals
        texts = text[1:-1].split(b",")
        if len(texts) != count or text.count(b"[") != 1 or text.count(b"]") != 1:
            return None  # a comma or bracket in a value: the line path says what is wrong
        if sh.take is not None:
            texts = [texts[i] for i in sh.take.tolist()]
        try:
            return np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
        except ValueError:
            return None

    def remember(
        self,
        parts: Parts | None,
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
        digest, _, lines, cuts = parts
        per_value = line_refs[lines]
        if int(np.count_nonzero(per_value == -1)) != dropped or bool((per_value < -1).any()) or \
                int(np.count_nonzero(per_value >= 0)) != int(np.count_nonzero(line_refs >= 0)):
            return  # lines classified differently than the cache did: not worth the risk
        take = np.flatnonzero(per_value >= 0)
        if keep is not None:
            take = take[keep]
        all_lines = take.size == lines.size and bool((take == np.arange(lines.size)).all())
        small = cuts.shape[0] == 0 or (int(cuts.min()) >= -(2**15) and int(cuts.max()) < 2**15)
        kept: npt.NDArray[np.int16] | npt.NDArray[np.int32] = (
            cuts.astype(np.int16) if small else cuts.astype(np.int32))
        self.shape = Shape(digest, refs, None if all_lines else take.astype(np.intp), scraped, dropped,
                           duplicates, kept)
