"""The numeric sample codec under the page format (``chunks``): rows of samples to 64-bit
words and back, vectorised over many rows at once.

* timestamps become delta-of-deltas per row (a regular scrape grid turns into zeros); when
  every row has the very same timestamps (one target's scrape) they are stored once;
* values become, per row, either zig-zagged integer deltas (integer-valued rows such as
  request counters and histogram buckets) or the XOR of each float's bits with its
  predecessor's (everything else), so a slowly moving series is mostly zero bits.

Every row is encoded on its own, so the words of a run of rows are a slice of the page's
words: that is what lets a page be cut into independently compressed frames.
Values round-trip bit for bit: the staleness marker NaN, other NaNs and -0.0 keep their
exact bit pattern (rows holding them use the XOR form).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

_TWO53 = float(2**53)


def _zigzag_own(x: I64) -> U64:
    """Zig-zag (small magnitudes of either sign to small words) in place: ``x`` must be an
    array nobody else holds; two temporaries fewer than a fresh result."""
    sign = np.right_shift(x, 63)
    np.left_shift(x, 1, out=x)
    np.bitwise_xor(x, sign, out=x)
    return x.view(np.uint64)


def _unzigzag(u: U64) -> I64:
    # In place on two temporaries: fresh large arrays cost page faults, not just copies.
    s: I64 = np.right_shift(u, np.uint64(1)).view(np.int64)
    m: I64 = np.bitwise_and(u, np.uint64(1)).view(np.int64)
    np.negative(m, out=m)
    np.bitwise_xor(s, m, out=s)
    return s


def transpose(u: U64) -> bytes:
    return u.view(np.uint8).reshape(-1, 8).T.tobytes()


def row_starts(counts: I32) -> I64:
    starts = np.zeros(counts.shape[0], dtype=np.int64)
    if counts.shape[0] > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _seg_diff(x: I64, starts: I64) -> I64:
    """Difference with the predecessor inside each row; the first element of a row is kept."""
    d = np.empty_like(x)
    if x.size:
        d[0] = x[0]
        np.subtract(x[1:], x[:-1], out=d[1:])
        d[starts] = x[starts]
    return d


def _seg_cumsum(d: I64, starts: I64, counts: I32) -> I64:
    c = np.cumsum(d)
    before = c[starts] - d[starts]
    out: I64 = c - np.repeat(before, counts)
    return out


def _seg_xor_accumulate(d: U64, starts: I64, counts: I32) -> U64:
    c: U64 = np.bitwise_xor.accumulate(d)
    before = np.bitwise_xor(c[starts], d[starts])
    out: U64 = np.bitwise_xor(c, np.repeat(before, counts))
    return out


def encode_timestamps(ts: I64, counts: I32) -> tuple[bool, U64]:
    """Delta-of-delta words per row, or the first row only when all rows are equal."""
    n = counts.shape[0]
    if n and counts[0] > 0 and (counts == counts[0]).all():
        c = int(counts[0])
        mat = ts.reshape(n, c)
        if (mat == mat[0]).all():
            row = mat[0]
            return True, _zigzag_own(_dod(row, np.zeros(1, dtype=np.int64)))
    # Rows without samples add nothing to the words (and have no first sample).
    return False, _zigzag_own(_dod(ts, row_starts(counts[counts > 0])))


def _dod(ts: I64, starts: I64) -> I64:
    d1 = _seg_diff(ts, starts)
    d2 = _seg_diff(d1, starts)
    # The second element of each row is a plain delta, not a delta of deltas.
    second = starts + 1
    second = second[second < ts.size]
    if second.size:
        d2[second] = d1[second]
    # Rows of length 1 made ``second`` point into the next row: restore their starts.
    d2[starts] = ts[starts]
    return d2


def uniform_count(counts: I32) -> int:
    """The common row length, or -1 when rows differ (or there are none)."""
    if not counts.shape[0]:
        return -1
    c = int(counts[0])
    return c if c > 0 and bool((counts == c).all()) else -1


def undod(words: U64, starts: I64, counts: I32) -> I64:
    nonempty = counts > 0
    if not nonempty.all():
        counts = counts[nonempty]
        starts = row_starts(counts)
    d2 = _unzigzag(words)
    c = uniform_count(counts)
    if c > 0:
        # Equal rows (one scrape interval for all): accumulate along rows of a matrix,
        # no per-sample row bookkeeping.
        mat = d2.reshape(-1, c)
        grid = np.empty_like(mat)
        grid[:, 0] = mat[:, 0]
        if c > 1:
            d1 = np.cumsum(mat[:, 1:], axis=1)
            np.cumsum(d1, axis=1, out=grid[:, 1:])
            grid[:, 1:] += mat[:, :1]
        flat: I64 = grid.ravel()
        return flat
    first = d2[starts].copy()
    d2[starts] = 0
    d1 = _seg_cumsum(d2, starts, counts)
    d1[starts] = 0
    x: I64 = _seg_cumsum(d1, starts, counts) + np.repeat(first, counts)
    return x


def encode_values(vs: F64, counts: I32) -> tuple[npt.NDArray[np.bool_], U64]:
    nonempty = counts > 0
    if not nonempty.all():
        # Rows without samples: encode the others; their flag is meaningless (True).
        row_int_ne, words = encode_values(vs, counts[nonempty])
        row_int_all = np.ones(counts.shape[0], dtype=np.bool_)
        row_int_all[nonempty] = row_int_ne
        return row_int_all, words
    starts = row_starts(counts)
    bits = vs.view(np.uint64)
    with np.errstate(invalid="ignore"):
        ints = vs.astype(np.int64)
    # A value is an integer when it comes back bit for bit from its int64 (NaN, the
    # infinities, -0.0 and fractions do not) and is below 2**53 in magnitude: three passes
    # fewer than testing each of those, and ``ints`` is then the integer form as well.
    elem_int = ints.astype(np.float64).view(np.uint64) == bits
    elem_int &= np.abs(vs) < _TWO53
    row_int = np.logical_and.reduceat(elem_int, starts) if starts.size else np.zeros(0, dtype=np.bool_)
    out: U64
    if row_int.all():
        out = _zigzag_own(_seg_diff(ints, starts))
    elif not row_int.any():
        out = bits.copy()
        if bits.size:
            np.bitwise_xor(bits[1:], bits[:-1], out=out[1:])
            out[starts] = bits[starts]
    else:
        mask = np.repeat(row_int, counts)
        ints[~mask] = 0
        zi = _zigzag_own(_seg_diff(ints, starts))
        xb = np.where(mask, np.uint64(0), bits)
        out = xb.copy()
        np.bitwise_xor(xb[1:], xb[:-1], out=out[1:])
        out[starts] = xb[starts]
        np.copyto(out, zi, where=mask)
    return row_int, out


def decode_values(row_int: npt.NDArray[np.bool_], words: U64, counts: I32) -> F64:
    nonempty = counts > 0
    if not nonempty.all():
        return decode_values(row_int[nonempty], words, counts[nonempty])
    c = uniform_count(counts)
    if c > 0:
        return _decode_values_uniform(row_int, words.reshape(-1, c))
    starts = row_starts(counts)
    if row_int.all():
        out: F64 = _seg_cumsum(_unzigzag(words), starts, counts).astype(np.float64)
        return out
    if not row_int.any():
        return _seg_xor_accumulate(words, starts, counts).view(np.float64)
    mask = np.repeat(row_int, counts)
    ints = _seg_cumsum(np.where(mask, _unzigzag(words), 0), starts, counts).astype(np.float64)
    xs = _seg_xor_accumulate(np.where(mask, np.uint64(0), words), starts, counts).view(np.float64)
    res: F64 = np.where(mask, ints, xs)
    return res


def _decode_values_uniform(row_int: npt.NDArray[np.bool_], mat: U64) -> F64:
    """``decode_values`` for rows of equal length: per-row accumulation along axis 1."""
    if row_int.all():
        z = _unzigzag(mat)
        np.cumsum(z, axis=1, out=z)
        ints: F64 = z.astype(np.float64).ravel()
        return ints
    if not row_int.any():
        xs: F64 = np.bitwise_xor.accumulate(mat, axis=1).view(np.float64).ravel()
        return xs
    out = np.empty(mat.shape, dtype=np.float64)
    ii = np.nonzero(row_int)[0]
    ff = np.nonzero(~row_int)[0]
    out[ii] = np.cumsum(_unzigzag(mat[ii]), axis=1)
    out[ff] = np.bitwise_xor.accumulate(mat[ff], axis=1).view(np.float64)
    res: F64 = out.ravel()
    return res
