"""Upper bounds of exponential native histogram buckets, bit for bit Prometheus's.

Prometheus does not compute ``2**(i / 2**schema)`` for a bound: it looks the fraction up in
a table of 2**schema values per schema, written into its source once, and scales it by a
power of two.  That table was generated with Go's own ``math.Exp2``, and most entries differ
from a correctly rounded power (Python's ``2.0 ** x``): 178 of schema 8's 256, by up to four
units in the last place, since each odd entry is a product of rounded values.  A bound one
ulp off changes the API's bucket JSON, the ``le`` of a histogram converted to classic
buckets and, rarely, which bucket a quantile lands in, so guardia derives the same table the
same way: Go's exp2 algorithm (argument reduction by a split ln 2, then the fdlibm
polynomial) and the generator's recurrence, in which each new odd entry is the previous entry
times ``2**(2**-schema)`` and each even entry is the coarser schema's.
``tests/model/test_histbounds.py`` checks entries against values published by Prometheus and
its client library.
"""

from __future__ import annotations

import math

__all__ = ["exp_bound", "fraction_table"]

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_P1 = 1.66666666666666657415e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_MAX_SCHEMA = 8


def _go_exp2(x: float) -> float:
    """``2**x`` rounded as Go's ``math.Exp2`` rounds it, for the small ``x`` the table uses."""
    k = int(x + 0.5) if x > 0 else int(x - 0.5) if x < 0 else 0
    t = x - float(k)
    hi = t * _LN2_HI
    lo = -t * _LN2_LO
    r = hi - lo
    tt = r * r
    c = r - tt * (_P1 + tt * (_P2 + tt * (_P3 + tt * (_P4 + tt * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return math.ldexp(y, k)


def _tables() -> tuple[tuple[float, ...], ...]:
    out: list[tuple[float, ...]] = []
    for schema in range(_MAX_SCHEMA + 1):
        factor = _go_exp2(_go_exp2(float(-schema)))
        row = [0.5]
        for j in range((1 << schema) - 1):
            row.append(out[schema - 1][j // 2 + 1] if j % 2 else row[j] * factor)
        out.append(tuple(row))
    return tuple(out)


_FRACTIONS = _tables()


def fraction_table(schema: int) -> tuple[float, ...]:
    """The ``2**schema`` fractions in [0.5, 1) that bounds at ``schema`` (1..8) scale."""
    return _FRACTIONS[schema]


def exp_bound(index: int, schema: int) -> float:
    """Upper bound of exponential bucket ``index`` at ``schema`` (-4..8).

    The bucket that would end at 2**1024 ends at the largest float instead, as in Prometheus:
    it holds the observations up to the largest finite value, and +Inf stays the overflow."""
    if schema <= 0:
        exp = index << -schema
        if exp >= 1024:
            return math.inf if exp > 1024 else _MAX_FLOAT
        return math.ldexp(1.0, exp)
    frac = _FRACTIONS[schema][index & ((1 << schema) - 1)]
    exp = (index >> schema) + 1
    if exp >= 1025:
        return math.inf if exp > 1025 or frac != 0.5 else _MAX_FLOAT
    return math.ldexp(frac, exp)


_MAX_FLOAT = 1.7976931348623157e308
