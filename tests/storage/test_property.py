"""Random appends, commits, rollbacks, cuts, compactions and restarts read back exactly
what was committed, compared against the reference MemoryStorage."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from guardia.model import STALE_NAN, Labels
from guardia.storage.memory import MemoryStorage
from guardia.storage.tsdb import TSDB, TSDBOptions

from .conftest import dump

SERIES = [Labels.of(__name__="m", i=str(i)) for i in range(6)]
VALUES = [0.0, 1.0, 2.5, -0.0, 1e300, STALE_NAN, math.nan]
OPTS = TSDBOptions(block_range_ms=60_000, retention_ms=0, chunk_slots=4, page_rows=3, block_page_rows=2)

op = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from([1000, 15_000, 60_000, 120_000, 240_000])),
    st.tuples(
        st.just("append"),
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1), st.sampled_from(VALUES)), max_size=8),
    ),
    st.tuples(st.just("batch"), st.sampled_from(VALUES)),
    st.tuples(st.just("commit"), st.none()),
    st.tuples(st.just("rollback"), st.none()),
    st.tuples(st.just("maintain"), st.none()),
    st.tuples(st.just("checkpoint"), st.none()),
    st.tuples(st.just("restart"), st.none()),
)


def _bits(v: float) -> int:
    return int(np.float64(v).view(np.uint64))


@given(st.lists(op, min_size=15, max_size=60), st.integers(0, 400_000), st.integers(0, 400_000))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_histories_read_back_what_was_committed(ops: list[tuple[str, object]], a: int, b: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "data"
        db = TSDB.open(path, OPTS)
        ref = MemoryStorage()
        ref_app = ref.appender()
        app = db.appender()
        now = 1000
        pending: list[tuple[int, int, float]] = []
        last: dict[int, tuple[int, int]] = {}
        for name, arg in ops:
            if name == "tick":
                now += int(arg)  # type: ignore[call-overload]
            elif name == "append":
                for s, back, v in arg:  # type: ignore[attr-defined]
                    t = now - 1000 * back
                    app.append(app.ref(SERIES[s]), t, v)
                    pending.append((s, t, v))
            elif name == "batch":
                refs = [app.ref(lb) for lb in SERIES]
                app.append_batch(refs, now, [arg] * len(refs))  # type: ignore[list-item]
                pending.extend((s, now, arg) for s in range(len(SERIES)))  # type: ignore[misc]
            elif name == "commit":
                stats = app.commit()
                accepted = 0
                for s, t, v in sorted(pending, key=lambda x: (x[0], x[1])):
                    prev = last.get(s)
                    if prev is None or t > prev[0]:
                        last[s] = (t, _bits(v))
                        ref_app.append(SERIES[s], t, v)
                        accepted += 1
                pending = []
                ref_app.commit()
                assert stats.appended == accepted
            elif name == "rollback":
                app.rollback()
                pending = []
            elif name == "maintain":
                rep = db.maintain()
                if rep.blocks_cut:
                    event("head cut into a block")
                if rep.compacted:
                    event("blocks compacted")
            elif name == "checkpoint":
                db.checkpoint()
            elif name == "restart":
                event("restart")
                app.rollback()
                pending = []
                db.close()
                db = TSDB.open(path, OPTS)
                app = db.appender()
        try:
            assert dump(db.querier(0, 10**9)) == dump(ref.querier(0, 10**9))
            lo, hi = min(a, b), max(a, b)
            assert dump(db.querier(lo, hi)) == dump(ref.querier(lo, hi))
        finally:
            db.close()
