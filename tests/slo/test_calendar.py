"""A calendar-month budget across a month boundary: November's errors spend November's
budget, and December starts with all of its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from guardia.promql import Engine
from guardia.slo import Period, load_file
from guardia.slo.backtest import backtest, engine_queries
from guardia.slo.status import compute
from tests.slo.synth import HOUR, MIN, Traffic

DATA = Path(__file__).parent / "data"
DEC_1 = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def month() -> tuple[Traffic, object]:
    # Nov 30 18:00 to Dec 1 06:00, 600 requests a minute; 10% errors for 20 minutes at 22:00.
    tr = Traffic.steady(12)
    tr.start_ms = DEC_1 - 6 * HOUR
    tr.burst(at_min=4 * 60, minutes=20, ratio=0.10)
    return tr, tr.store()


def status_at(storage: object, t: int) -> tuple[float | None, float | None, int]:
    (slo,), _ = load_file(DATA / "api.yml")
    slo = replace(slo, period=Period.parse("month"))
    _, iq = engine_queries(Engine(), storage)
    st = compute(slo, iq, t)
    return st.error_ratio, st.budget_remaining, st.period_start_ms


def test_november_pays_for_its_errors(month: tuple[Traffic, object]) -> None:
    tr, storage = month
    t = DEC_1 - MIN
    ratio, left, start = status_at(storage, t)
    assert start == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    err, total = tr.counters()
    last = int(np.searchsorted(tr.times(), t, side="right")) - 1
    # all of November's samples are in the period: 1,200 errors of 6 hours' requests
    expect = (err[last] - err[0]) / (total[last] - total[0])
    assert ratio == pytest.approx(expect, rel=0.02)
    assert left == pytest.approx(1 - expect / 0.001, rel=0.02)
    assert left < 0


def test_december_starts_with_a_full_budget(month: tuple[Traffic, object]) -> None:
    _, storage = month
    ratio, left, start = status_at(storage, DEC_1 + 2 * HOUR)
    assert start == DEC_1
    assert ratio == 0 and left == 1


def test_a_rolling_30_days_still_counts_novembers_errors(month: tuple[Traffic, object]) -> None:
    _, storage = month
    (slo,), _ = load_file(DATA / "api.yml")
    rq, iq = engine_queries(Engine(), storage)
    res = backtest(slo, rq, iq, DEC_1, DEC_1 + 2 * HOUR)
    assert res.budget_remaining is not None and res.budget_remaining < 0
    cal = backtest(replace(slo, period=Period.parse("month")), rq, iq, DEC_1, DEC_1 + 2 * HOUR)
    assert cal.period_start_ms == DEC_1 and cal.budget_remaining == 1
