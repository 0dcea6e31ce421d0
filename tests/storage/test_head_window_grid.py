"""A window compressed as a grid (``head_compress._WindowGrid``: spill pages copied as blocks
into a series × samples matrix) gives the very bytes the general way (fragments assembled per
batch) gives, and windows that are not grids take the general way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guardia.model import STALE_NAN, Labels
from guardia.storage.tsdb import TSDB, TSDBOptions, head_compress
from guardia.storage.tsdb.chunks import ChunkCorruptError

from .conftest import dump

# (interval in s, writes a round late) per target: every series one interval, with and
# without spills; a target writing its last sample of a window after the next window opened
# (a buffered sample after spill pages); targets of several intervals (rows of different
# lengths, the turn's page cut in pieces); of very many (too many pieces: the general way)
SHAPES = {
    "5s-spills": [(5, False)] * 4,
    "15s-buffer-only": [(15, False)] * 3,
    "5s-and-a-late-target": [(5, False), (5, False), (5, True)],
    "mixed-intervals": [(5, False), (15, False), (10, True)],
    "10s-and-late": [(10, False), (10, True)],
    "many-intervals": [(i, i % 3 == 0) for i in range(1, 25)],
}


def _values(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Integer counters, floats, and now and then a NaN, a staleness marker or -0.0."""
    ints = np.arange(n, dtype=np.float64) * 7 + k * rng.integers(0, 5, n)
    floats = rng.normal(0, 1e3, n)
    v = np.where(np.arange(n) % 3 == 0, floats, ints)
    odd = rng.random(n)
    v[odd < 0.01] = np.nan
    v[(odd >= 0.01) & (odd < 0.02)] = STALE_NAN
    v[(odd >= 0.02) & (odd < 0.03)] = -0.0
    return v


def _fill(db: TSDB, shape: list[tuple[int, bool]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    app = db.appender()
    per = 40
    refs = [
        np.array([app.ref(Labels({"__name__": f"m{i % 7}", "t": str(j), "i": str(i)})) for i in range(per)],
                 dtype=np.int64)
        for j in range(len(shape))
    ]
    w = db.head.W
    t0 = 1_700_000_000_000 // w * w + w // 2  # half a window in: the first window is short
    end = t0 + 3 * w
    pending: list[tuple[int, int, np.ndarray]] = []
    for t in range(t0, end, 1000):
        for j, (interval, late) in enumerate(shape):
            ts = t + 37 * j  # each target at its own phase
            if (t - t0) % (interval * 1000):
                continue
            vals = _values(rng, per, (t - t0) // 1000)
            if late:  # this round's scrape lands with the next one
                pending.append((j, ts, vals))
                continue
            app.append_batch(refs[j], ts, vals)
            app.commit()
        for j, ts, vals in pending:
            if ts + shape[j][0] * 1000 <= t:
                app.append_batch(refs[j], ts, vals)
                app.commit()
        pending = [p for p in pending if p[1] + shape[p[0]][0] * 1000 > t]
    db.head.finalize_all()


def _spans(db: TSDB) -> list[tuple[int, int, list[int], list[tuple[list[int], bytes]]]]:
    return [
        (sp.start, sp.end, sp.frame_of.tolist(), [(f.refs().tolist(), f.blob) for f in sp.frames])
        for sp in sorted(db.head.spans, key=lambda sp: sp.start)
    ]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_grid_window_is_compressed_to_the_same_bytes_as_the_general_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    shape = SHAPES[name]
    opts = TSDBOptions(chunk_slots=4, page_rows=32)  # spills at every 4th sample; frames of 32 rows
    plans: list[bool] = []
    real_plan = head_compress._WindowGrid.plan

    def spy(*args: object) -> object:
        out = real_plan(*args)  # type: ignore[arg-type]
        plans.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(head_compress._WindowGrid, "plan", staticmethod(lambda *a: None))
        general = TSDB.open(tmp_path / "general", opts)
        _fill(general, shape, 3)
        want, want_dump = _spans(general), dump(general.querier(0, 2**62))
        general.close()
    with monkeypatch.context() as m:
        m.setattr(head_compress._WindowGrid, "plan", staticmethod(spy))
        grid = TSDB.open(tmp_path / "grid", opts)
        _fill(grid, shape, 3)
        got, got_dump = _spans(grid), dump(grid.querier(0, 2**62))
        grid.close()
    assert len(want) >= 3 and got == want and got_dump == want_dump
    assert plans and (not all(plans) if name == "many-intervals" else all(plans)), plans


def test_a_damaged_spill_page_stops_compression_with_a_clear_error(tmp_path: Path) -> None:
    """Compression reads the window's spill pages back from their bytes: a damaged one is
    reported as such (``ChunkCorruptError``), not turned into wrong samples."""
    db = TSDB.open(tmp_path / "d", TSDBOptions(chunk_slots=4))
    try:
        app = db.appender()
        refs = [app.ref(Labels({"__name__": "m", "i": str(i)})) for i in range(8)]
        w = db.head.W
        t0 = 1_700_000_000_000 // w * w
        for k in range(10):  # two full spills of four slots per series, two samples buffered
            app.append_batch(refs, t0 + k * 1000, [float(k)] * 8)
            app.commit()
        win = db.head.windows[t0 // w]
        assert len(win.spills) == 2
        page = win.spills[1]
        page.blob = page.blob[:40] + bytes(len(page.blob) - 40)  # frames zeroed
        with pytest.raises(ChunkCorruptError):
            db.head.finalize(t0 // w)
    finally:
        db.close()
