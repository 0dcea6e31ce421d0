"""Functions over range vectors (``rate``, ``*_over_time``, ...), vectorised over windows.

Every window is ``[lo, hi)`` in the flat sample array of a ``RangeVector``.  Sums use
``reduceat`` over the windows, pair-wise counts (resets, changes) use cumulative sums of
integer indicators, so there is no Python loop per step or per series on the hot paths.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from guardia.promql.kahan import REL_TOL, segment_sums
from guardia.promql.timerows import RowWindows
from guardia.promql.values import F64, I64, RangeVector
from guardia.promql.windows import row_blocks


def window_reduce(ufunc: np.ufunc, arr: np.ndarray, lo: I64, hi: I64) -> np.ndarray:
    """``ufunc`` over each window ``arr[lo:hi]``; empty windows give garbage (mask them)."""
    if arr.shape[0] == 0:
        return np.zeros(lo.shape, dtype=arr.dtype)
    ext = np.concatenate([arr, arr[:1]])
    idx = np.empty(lo.size * 2, dtype=np.int64)
    idx[0::2] = lo.ravel()
    idx[1::2] = hi.ravel()
    res = ufunc.reduceat(ext, idx)[0::2]
    return np.asarray(res).reshape(lo.shape)


def _pair_cumsum(ind: np.ndarray) -> np.ndarray:
    c = np.zeros(len(ind) + 1, dtype=ind.dtype)
    np.cumsum(ind, out=c[1:])
    return c


def _pair_sum(rv: RangeVector, ind: np.ndarray) -> np.ndarray:
    """Sum of a per-pair indicator over pairs ``(i-1, i)`` with ``lo < i < hi``.

    ``ind[i]`` must be 0 where sample ``i`` is the first of its series.
    """
    c = _pair_cumsum(ind)
    lo1 = np.minimum(rv.lo + 1, rv.hi)
    out: np.ndarray = c[rv.hi] - c[lo1]
    return out


def _first_of_series(rv: RangeVector) -> np.ndarray:
    first = np.zeros(len(rv.t), dtype=bool)
    s = rv.starts[:-1][rv.starts[:-1] < len(rv.t)]
    first[s] = True
    return first


def _prev(v: np.ndarray) -> np.ndarray:
    p = np.empty_like(v)
    if len(v):
        p[0] = v[0]
        p[1:] = v[:-1]
    return p


def extrapolated_rate(rv: RangeVector, is_counter: bool, is_rate: bool) -> tuple[F64, np.ndarray]:
    """Prometheus's ``extrapolatedRate``: rate/increase/delta for every window.

    The difference between the last and first sample (plus what counter resets lost) is
    extrapolated towards the window edges: all the way when the gap to an edge is at most
    1.1 average sample intervals, otherwise by half an interval; a counter is never
    extrapolated below zero.

    This runs on every (series, step) cell of the hottest query shape, where a dozen
    whole-size temporaries would cost more in memory traffic than in arithmetic, so the
    cells are computed in blocks of series.  Times are made float64 (millisecond
    integers are exact there, and so are their differences), so the arithmetic is the
    same, operation for operation, as on integer differences.
    """
    if rv.windows is not None:
        return _rate_rows(rv, rv.windows, is_counter, is_rate)
    lo, hi = rv.lo, rv.hi
    v = rv.v
    if len(v) == 0:
        return np.zeros(lo.shape), hi - lo >= 2
    lost = _lost(rv) if is_counter else None
    end = rv.step_times.astype(np.float64)[None, :]
    start = (rv.step_times - rv.range_ms).astype(np.float64)[None, :]
    out = np.empty(lo.shape)
    ok = np.empty(lo.shape, dtype=bool)
    for rows in row_blocks(lo.shape[0], lo.shape[1]):
        _rate_block(
            v, rv.t, lo[rows], hi[rows], lost, end, start, rv.range_ms, is_counter, is_rate,
            out[rows], ok[rows],
        )
    return out, ok


def _lost(rv: RangeVector) -> F64 | None:
    """Counter resets: cumulative sum of what each drop lost, read at the window edges.

    Found with one comparison of neighbours; the array of what was lost only when some
    series did reset (most windows over most counters have none)."""
    v = rv.v
    drops = np.empty(len(v), dtype=bool)
    drops[0] = False
    np.less(v[1:], v[:-1], out=drops[1:])
    drops[rv.starts[:-1][rv.starts[:-1] < len(v)]] = False  # a series' first sample
    if not drops.any():
        return None
    out: F64 = _pair_cumsum(np.where(drops, _prev(v), 0.0))
    return out


def _row_factors(w: RowWindows, step_times: I64, range_ms: int, is_rate: bool) -> tuple[F64, ...]:
    """The time arithmetic of ``extrapolate`` once per distinct row of times (it depends
    on the window's first and last sample times and count alone), operation for operation
    as ``extrapolate`` does it per cell: the sampled span, the start and end durations
    after the 1.1-interval rule, and the factor a raw increase is scaled by where the
    counter's zero point does not cut the start short."""
    times, tst = w.row_times()
    base = tst[:-1, None]
    first_t = np.take(times, base + w.lo, mode="clip").astype(np.float64)
    last_t = np.take(times, base + w.hi - 1, mode="clip").astype(np.float64)
    end = step_times.astype(np.float64)[None, :]
    start = (step_times - range_ms).astype(np.float64)[None, :]
    with np.errstate(all="ignore"):
        sampled, dur_start, dur_end, _ = _durations(first_t, last_t, start, end, w.hi - w.lo)
        factor = dur_start + dur_end
        factor += sampled
        factor /= sampled
        if is_rate:
            factor /= range_ms / 1000.0
    return sampled, dur_start, dur_end, factor


def _rate_rows(rv: RangeVector, w: RowWindows, is_counter: bool, is_rate: bool) -> tuple[F64, np.ndarray]:
    """``extrapolated_rate`` of series that share rows of sample times: the time
    arithmetic is done per row (``_row_factors``); per cell there is the raw increase,
    the counter's zero check and one multiplication.  The few cells whose extrapolation
    stops at the counter's zero point are finished as ``extrapolate`` does them."""
    rows = w.rows
    v = rv.v
    k, n = len(rows.row), w.lo.shape[1]
    lost = _lost(rv) if is_counter else None
    sampled, dur_start, dur_end, factor = _row_factors(w, rv.step_times, rv.range_ms, is_rate)
    ok_row = (w.hi - w.lo) >= 2
    out = np.empty((k, n))
    ok = np.empty((k, n), dtype=bool)
    single = rows.single
    if single:
        c = int(rows.tstarts[1])
        s0 = int(rv.starts[0])
        grid = v[s0 : s0 + c * k].reshape(k, c)
        first_col = np.clip(w.lo[0], 0, c - 1)
        last_col = np.clip(w.hi[0] - 1, 0, c - 1)
    for blk in row_blocks(k, n):
        result = out[blk]
        if single:
            part = grid[blk]
            first_v = np.take(part, first_col, axis=1)
            np.take(part, last_col, axis=1, out=result)
            np.copyto(ok[blk], ok_row[:1])
        else:
            first_v = np.take(v, rows.expand(w.lo, rv.starts, blk), mode="clip")
            np.take(v, rows.expand(w.hi - 1, rv.starts, blk), out=result, mode="clip")
            np.take(ok_row, rows.row[blk], axis=0, out=ok[blk])
        result -= first_v
        if lost is not None:
            lo = rows.expand(w.lo, rv.starts, blk)
            hi = rows.expand(w.hi, rv.starts, blk)
            np.add(lo, 1, out=lo)
            np.minimum(lo, hi, out=lo)
            result += lost[hi]
            result -= lost[lo]
        with np.errstate(all="ignore"):
            cells: tuple[np.ndarray, ...] = ()
            if is_counter:
                # where a counter extrapolated to the window start would go below zero,
                # the start is cut at its zero point (per cell: it depends on the values)
                to_zero = np.divide(first_v, result)
                to_zero *= rows.spread(sampled, blk)
                use_zero = result > 0
                use_zero &= first_v >= 0
                use_zero &= to_zero < rows.spread(dur_start, blk)
                if use_zero.any():
                    cells = np.nonzero(use_zero)
                    raw = result[cells]
            result *= rows.spread(factor, blk)
            if cells:
                at = (np.zeros_like(cells[0]) if single else rows.row[blk][cells[0]], cells[1])
                ds = to_zero[cells]
                ds += dur_end[at]
                ds += sampled[at]
                ds /= sampled[at]
                if is_rate:
                    ds /= rv.range_ms / 1000.0
                result[cells] = raw * ds
    return out, ok


def _rate_block(
    v: F64, t: I64, lo: I64, hi: I64, lost: F64 | None, end: F64, start: F64,
    range_ms: int, is_counter: bool, is_rate: bool, result: F64, ok: np.ndarray,
) -> None:
    """``extrapolated_rate`` of one block of series into ``result`` and ``ok`` (views of
    the block's rows); every temporary reuses a buffer.  Sample times are gathered for the
    block's windows and made float64 there, not for every sample."""
    nv = len(v)
    c = hi - lo
    np.greater_equal(c, 2, out=ok)
    idx = np.minimum(lo, nv - 1)
    first_v = np.take(v, idx, mode="clip")
    first_t = np.take(t, idx, mode="clip").astype(np.float64)
    np.subtract(hi, 1, out=idx)
    np.clip(idx, 0, nv - 1, out=idx)
    # mode="clip" (idx is in range already): with the default "raise" numpy buffers ``out``
    # and the take costs several times more
    np.take(v, idx, out=result, mode="clip")
    last_t = np.take(t, idx, mode="clip").astype(np.float64)
    result -= first_v
    if lost is not None:
        # Pairs (i-1, i) with lo < i < hi: what drops inside the window lost.
        np.add(lo, 1, out=idx)
        np.minimum(idx, hi, out=idx)
        result += lost[hi]
        result -= lost[idx]
    extrapolate(result, first_v, first_t, last_t, c, start, end, range_ms, is_counter, is_rate)


def extrapolate(
    result: F64, first_v: F64, first_t: F64, last_t: F64, count: I64, start: F64 | float,
    end: F64 | float, range_ms: int, is_counter: bool, is_rate: bool,
) -> None:
    """Prometheus's ``extrapolatedRate`` from each window's raw increase (``result``, scaled
    in place), first value, first and last sample times (ms, as floats) and sample count.

    ``first_t``, ``last_t`` and ``count`` are used as scratch buffers and overwritten.  One
    body for the engine and for the reports' per-interval cells, so their figures agree to
    the last bit."""
    with np.errstate(all="ignore"):
        sampled, dur_start, dur_end, scratch = _durations(first_t, last_t, start, end, count)
        if is_counter:
            to_zero = np.divide(first_v, result, out=scratch)
            to_zero *= sampled
            use_zero = result > 0
            use_zero &= first_v >= 0
            use_zero &= to_zero < dur_start
            np.copyto(dur_start, to_zero, where=use_zero)
        dur_start += dur_end
        dur_start += sampled
        dur_start /= sampled
        if is_rate:
            dur_start /= range_ms / 1000.0
        result *= dur_start


def _durations(
    first_t: F64, last_t: F64, start: F64 | float, end: F64 | float, count: I64
) -> tuple[F64, F64, F64, F64]:
    """Extrapolation's durations in seconds, per window: the sampled span, and the gaps to the
    window's start and end, each cut to half an average interval where it is 1.1 intervals or
    more.  The gaps are written into ``first_t`` and ``last_t`` and ``count`` is overwritten;
    the fourth array is scratch of the windows' shape.  Called under ``np.errstate``."""
    sampled = np.subtract(last_t, first_t)
    sampled *= 1e-3
    dur_start = np.subtract(first_t, start, out=first_t)
    dur_start *= 1e-3
    dur_end = np.subtract(end, last_t, out=last_t)
    dur_end *= 1e-3
    count -= 1
    np.maximum(count, 1, out=count)
    half = np.divide(sampled, count)
    threshold = np.multiply(half, 1.1)
    far_start = dur_start >= threshold
    far_end = dur_end >= threshold
    half *= 0.5
    np.copyto(dur_start, half, where=far_start)
    np.copyto(dur_end, half, where=far_end)
    return sampled, dur_start, dur_end, threshold


def instant_delta(rv: RangeVector, is_rate: bool) -> tuple[F64, np.ndarray]:
    """``irate`` / ``idelta``: the last two samples of each window."""
    ok = (rv.hi - rv.lo) >= 2
    v, t = rv.v, rv.t
    if len(v) == 0:
        return np.zeros(rv.lo.shape), ok
    i1 = np.clip(rv.hi - 1, 0, len(v) - 1)
    i0 = np.clip(rv.hi - 2, 0, len(v) - 1)
    last, prev = v[i1], v[i0]
    with np.errstate(all="ignore"):
        if is_rate:
            res = np.where(last < prev, last, last - prev)
            dt = (t[i1] - t[i0]) / 1000.0
            res = res / dt
            ok = ok & (dt != 0)
        else:
            res = last - prev
    return res, ok


def count(rv: RangeVector) -> tuple[F64, np.ndarray]:
    c = (rv.hi - rv.lo).astype(np.float64)
    return c, c > 0


def sum_(rv: RangeVector) -> tuple[F64, np.ndarray]:
    """Window sums; windows where plain addition may lose precision are re-added with
    Neumaier compensation (as Prometheus always does), so the fast path stays vectorised.
    """
    ok = rv.hi > rv.lo
    with np.errstate(all="ignore"):
        s = window_reduce(np.add, rv.v, rv.lo, rv.hi)
        mag = window_reduce(np.add, np.abs(rv.v), rv.lo, rv.hi)
        n = (rv.hi - rv.lo).astype(np.float64)
        # Rounding error of a plain sum is at most n * eps * sum(|v|).
        risky = ok & np.isfinite(mag) & (n * 2.3e-16 * mag > REL_TOL * np.abs(s))
    if risky.any():
        s[risky] = segment_sums(rv.v, rv.lo[risky], (rv.hi - rv.lo)[risky])
    return s, ok


def avg(rv: RangeVector) -> tuple[F64, np.ndarray]:
    s, ok = sum_(rv)
    c = np.maximum(rv.hi - rv.lo, 1)
    with np.errstate(all="ignore"):
        res = s / c
        has_inf = window_reduce(np.logical_or, np.isinf(rv.v), rv.lo, rv.hi)
    bad = ok & np.isinf(s) & ~has_inf
    if bad.any():
        for j, i in zip(*np.nonzero(bad), strict=True):
            w = rv.v[rv.lo[j, i] : rv.hi[j, i]]
            mean = 0.0
            for n, x in enumerate(w, 1):
                mean += x / n - mean / n
            res[j, i] = mean
    return res, ok


def min_(rv: RangeVector) -> tuple[F64, np.ndarray]:
    return window_reduce(np.fmin, rv.v, rv.lo, rv.hi), rv.hi > rv.lo


def max_(rv: RangeVector) -> tuple[F64, np.ndarray]:
    return window_reduce(np.fmax, rv.v, rv.lo, rv.hi), rv.hi > rv.lo


def last(rv: RangeVector) -> tuple[F64, np.ndarray]:
    ok = rv.hi > rv.lo
    if len(rv.v) == 0:
        return np.zeros(rv.lo.shape), ok
    return rv.v[np.clip(rv.hi - 1, 0, len(rv.v) - 1)], ok


def first(rv: RangeVector) -> tuple[F64, np.ndarray]:
    ok = rv.hi > rv.lo
    if len(rv.v) == 0:
        return np.zeros(rv.lo.shape), ok
    return rv.v[np.clip(rv.lo, 0, len(rv.v) - 1)], ok


def present(rv: RangeVector) -> tuple[F64, np.ndarray]:
    ok = rv.hi > rv.lo
    return np.ones(rv.lo.shape), ok


def changes(rv: RangeVector) -> tuple[F64, np.ndarray]:
    v = rv.v
    prev = _prev(v)
    with np.errstate(invalid="ignore"):
        ind = (v != prev) & ~(np.isnan(v) & np.isnan(prev)) & ~_first_of_series(rv)
    return _pair_sum(rv, ind.astype(np.int64)).astype(np.float64), rv.hi > rv.lo


def resets(rv: RangeVector) -> tuple[F64, np.ndarray]:
    v = rv.v
    with np.errstate(invalid="ignore"):
        ind = (v < _prev(v)) & ~_first_of_series(rv)
    return _pair_sum(rv, ind.astype(np.int64)).astype(np.float64), rv.hi > rv.lo


def linear_regression(rv: RangeVector, intercept_at_eval: bool) -> tuple[F64, F64, np.ndarray]:
    """Least-squares slope and intercept per window (Prometheus's ``linearRegression``).

    x is in seconds relative to each series' first sample so the sums stay exact enough;
    the intercept is moved to the first sample of the window (deriv) or to the step time
    (predict_linear).
    """
    ok = (rv.hi - rv.lo) >= 2
    t, v = rv.t, rv.v
    if len(v) == 0:
        z = np.zeros(rv.lo.shape)
        return z, z, ok
    seg = np.repeat(np.arange(len(rv.starts) - 1), np.diff(rv.starts))
    base = t[np.minimum(rv.starts[:-1], len(t) - 1)]
    x = (t - base[seg]) / 1000.0
    lo, hi = rv.lo, rv.hi
    n = (hi - lo).astype(np.float64)
    with np.errstate(all="ignore"):
        sx = window_reduce(np.add, x, lo, hi)
        sy = window_reduce(np.add, v, lo, hi)
        sxy = window_reduce(np.add, x * v, lo, hi)
        sxx = window_reduce(np.add, x * x, lo, hi)
        vmin = window_reduce(np.fmin, v, lo, hi)
        vmax = window_reduce(np.fmax, v, lo, hi)
        cov = sxy - sx * sy / n
        var = sxx - sx * sx / n
        slope = cov / var
        loc = np.minimum(lo, len(v) - 1)
        # predict_linear anchors at the step's own time (not the @/offset-shifted one).
        c = (rv.eval_ts[None, :] - base[:, None]) / 1000.0 if intercept_at_eval else x[loc]
        intercept = sy / n - slope * (sx / n - c)
        const = (vmin == vmax) & ~np.isnan(v[loc])
        first_v = v[loc]
        slope = np.where(const, np.where(np.isinf(first_v), np.nan, 0.0), slope)
        intercept = np.where(const, np.where(np.isinf(first_v), np.nan, first_v), intercept)
    return slope, intercept, ok


def per_window(rv: RangeVector, fn: Callable[[F64], float]) -> tuple[F64, np.ndarray]:
    """Fallback for rarely used functions: ``fn(values) -> float`` on every non-empty window."""
    ok = rv.hi > rv.lo
    out = np.zeros(rv.lo.shape)
    for n, (j, i) in enumerate(zip(*np.nonzero(ok), strict=True)):
        if n % 4096 == 4095:
            rv.check()
        out[j, i] = fn(rv.v[rv.lo[j, i] : rv.hi[j, i]])
    return out, ok


def ts_of_last(rv: RangeVector) -> tuple[F64, np.ndarray]:
    ok = rv.hi > rv.lo
    if len(rv.t) == 0:
        return np.zeros(rv.lo.shape), ok
    return rv.t[np.clip(rv.hi - 1, 0, len(rv.t) - 1)] / 1000.0, ok


def ts_of_first(rv: RangeVector) -> tuple[F64, np.ndarray]:
    ok = rv.hi > rv.lo
    if len(rv.t) == 0:
        return np.zeros(rv.lo.shape), ok
    return rv.t[np.clip(rv.lo, 0, len(rv.t) - 1)] / 1000.0, ok


def ts_of_extreme(rv: RangeVector, argfn: Callable[[F64], np.intp]) -> tuple[F64, np.ndarray]:
    """Timestamp of the (first) minimum / maximum sample; NaN only counts if all are NaN."""
    ok = rv.hi > rv.lo
    out = np.zeros(rv.lo.shape)
    for n, (j, i) in enumerate(zip(*np.nonzero(ok), strict=True)):
        if n % 4096 == 4095:
            rv.check()
        lo, hi = int(rv.lo[j, i]), int(rv.hi[j, i])
        w = rv.v[lo:hi]
        k = 0 if np.isnan(w).all() else int(argfn(w))
        out[j, i] = rv.t[lo + k] / 1000.0
    return out, ok
