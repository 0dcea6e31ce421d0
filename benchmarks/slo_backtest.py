"""SLO backtest and budget cost on a month of history.

Four counters (two handlers x 200/500) scraped every 15 s for 30 days (172,800 samples each,
0.7 M in all) in the in-memory store; one availability SLO.  Measures a 30-day backtest at a
1-minute grid (43,200 evaluations of five alert conditions, as range queries) and one budget
computation (the period's error ratio straight from the month of raw samples, plus the
burn-rate read).  Prints the backtest time last.
"""

from __future__ import annotations

import time

import numpy as np

from guardia.model import Labels
from guardia.promql import Engine
from guardia.slo.backtest import backtest, engine_queries
from guardia.slo.indicators import ratio
from guardia.slo.period import Period
from guardia.slo.spec import SLO
from guardia.slo.status import compute
from guardia.storage.memory import MemoryStorage

STEP = 15_000
DAYS = 30
START = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000


def build() -> tuple[MemoryStorage, int]:
    rng = np.random.default_rng(1)
    n = DAYS * 86_400_000 // STEP
    ts = (START + np.arange(n, dtype=np.int64) * STEP).tolist()
    s = MemoryStorage()
    for handler in ("/api/orders", "/api/users"):
        reqs = rng.poisson(50, n).astype(np.float64)
        err_rate = np.full(n, 0.0005)
        for at in rng.integers(0, n - 200, 6):  # a few incidents
            err_rate[at:at + int(rng.integers(20, 200))] = rng.uniform(0.01, 0.2)
        errs = rng.binomial(reqs.astype(np.int64), err_rate).astype(np.float64)
        for code, inc in (("500", errs), ("200", reqs - errs)):
            s.add_series(Labels({"__name__": "http_requests_total", "job": "api", "handler": handler,
                                 "code": code}), ts, (1000 + np.cumsum(inc)).tolist())
    return s, START + (n - 1) * STEP


def main() -> None:
    storage, end = build()
    slo = SLO("api", "availability", 0.999, Period.parse("30d"),
              ratio('http_requests_total{job="api",code=~"5.."}', 'http_requests_total{job="api"}'))
    rq, iq = engine_queries(Engine(), storage)
    t0 = time.perf_counter()
    st = compute(slo, iq, end)
    budget_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = backtest(slo, rq, iq, end - DAYS * 86_400_000, end, 60_000)
    bt_s = time.perf_counter() - t0
    print(f"alerts found: {len(res.episodes)}; budget remaining {res.budget_remaining:.3f} "
          f"(status {st.budget_remaining:.3f})")
    print(f"budget computation (30 d of raw samples, 4 series): {budget_s * 1000:.0f} ms")
    print(f"backtest 30 d at 1 m (43,200 evaluations x 5 conditions): {bt_s:.2f} s")


if __name__ == "__main__":
    main()
