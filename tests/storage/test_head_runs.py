"""Appends of a run of consecutive refs (a target's scrape) are written through slices
(``head_append._write``); the head they leave is the one the per-ref way leaves, sample for
sample and byte for byte, whatever mix of runs, permuted runs, gaps, rows at different slots,
per-sample timestamps and window turns the appends hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels
from guardia.storage.interface import AppendStats
from guardia.storage.tsdb import TSDB, TSDBOptions, head_append

from .conftest import dump


def _fill(db: TSDB, seed: int) -> list[AppendStats]:
    rng = np.random.default_rng(seed)
    app = db.appender()
    n = 300
    refs = np.array([app.ref(Labels({"__name__": "m", "i": str(i)})) for i in range(n)], dtype=np.int64)
    w = db.head.W
    t = 1_700_000_000_000 // w * w + w - 40_000
    stats = []
    for _ in range(120):
        t += int(rng.integers(1, 4)) * 1000
        kind = rng.integers(0, 5)
        lo = int(rng.integers(0, n - 2))
        hi = int(rng.integers(lo + 2, n + 1))
        sel = refs[lo:hi]
        if kind == 1:  # the same refs in another order
            sel = rng.permutation(sel)
        elif kind == 2:  # a run with a gap
            sel = np.delete(sel, int(rng.integers(0, sel.shape[0])))
        vals = np.asarray(rng.normal(0, 100, sel.shape[0]), dtype=np.float64)
        if kind == 3:  # per-sample timestamps (a remote-write batch)
            for r, v in zip(sel.tolist(), vals.tolist(), strict=True):
                app.append(r, t - int(rng.integers(0, 500)), v)
        else:
            app.append_batch(sel, t, vals)
        stats.append(app.commit())
    return stats


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_of_refs_leave_the_head_the_per_ref_way_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    opts = TSDBOptions(chunk_slots=4)
    out = []
    for runs in (False, True):
        monkeypatch.setattr(head_append, "_RUNS", runs)
        db = TSDB.open(tmp_path / str(runs), opts)
        stats = _fill(db, seed)
        h = db.head
        state = (
            [(s.appended, s.out_of_order, s.duplicate) for s in stats],
            dump(db.querier(0, 2**62)),
            h.last_t[: h.num_series].tolist(), h.last_bits[: h.num_series].tolist(),
            h.first_t[: h.num_series].tolist(), h.mint, h.maxt,
            {wid: (w.n[: h.num_series].tolist(), [p.blob for p in w.spills]) for wid, w in h.windows.items()},
        )
        h.finalize_all()
        out.append((state, [[f.blob for f in sp.frames] for sp in h.spans]))
        db.close()
    assert out[0] == out[1]
    assert sum(a for a, _, _ in out[1][0][0]) > 5_000  # most appends were taken
