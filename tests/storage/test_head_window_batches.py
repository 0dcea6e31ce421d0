"""A window's spill pages are read back a batch of series at a time when it is compressed
(``head_compress._SpillRows``), never all at once, and the span's bytes are those of reading
the whole window in one go; a batch whose samples are out of time order across pages is
merged the general way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels
from guardia.storage.tsdb import TSDB, TSDBOptions, head_compress

from .conftest import dump
from .test_head_window_grid import SHAPES, _fill, _spans

OPTS = TSDBOptions(chunk_slots=4, page_rows=4)  # batches of 4 × 16 = 64 series


def _wide(db: TSDB, targets: int = 6, per: int = 90, own_names: bool = False) -> None:
    """Targets of ``per`` series scraped every 5 s for two windows and a half; their series
    interleave in label order (one metric name across all targets), as a scrape's do, or
    with ``own_names`` follow each other (a name per target)."""
    app = db.appender()
    refs = [
        np.array([app.ref(Labels({"__name__": f"m{j if own_names else ''}_{i % 9}", "instance": f"t{j}",
                                  "i": str(i)}))
                  for i in range(per)], dtype=np.int64)
        for j in range(targets)
    ]
    w = db.head.W
    t0 = 1_700_000_000_000 // w * w
    for k, t in enumerate(range(t0, t0 + 5 * w // 2, 5000)):
        for j in range(targets):
            app.append_batch(refs[j], t + 100 * j, np.arange(per, dtype=np.float64) * 3 + k * (j + 1))
            app.commit()
    db.head.finalize_all()


@pytest.mark.parametrize("shape", ["wide", *sorted(SHAPES)])
def test_spill_pages_are_read_a_batch_at_a_time_into_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    def fill(db: TSDB) -> None:
        if shape == "wide":
            _wide(db)
        else:
            _fill(db, SHAPES[shape], 5)

    with monkeypatch.context() as m:  # the whole window decoded at once, as before
        m.setattr(head_compress, "_FRAMES_PER_BATCH", 1 << 20)
        m.setattr(head_compress, "_READ_SAMPLES", 1 << 40)
        whole = TSDB.open(tmp_path / "whole", OPTS)
        fill(whole)
        want, want_dump = _spans(whole), dump(whole.querier(0, 2**62))
        series = whole.head.num_series
        whole.close()

    calls: list[tuple[int, int]] = []  # (rows, samples) of each decode
    real = head_compress.decode_pages_rows

    def spy(items: list[tuple[bytes, np.ndarray | None]]) -> object:
        out = real(items)
        calls.append((int(out.counts.shape[0]), int(out.counts.sum())))
        return out

    with monkeypatch.context() as m:
        m.setattr(head_compress, "decode_pages_rows", spy)
        m.setattr(head_compress, "_READ_SAMPLES", 64)
        batched = TSDB.open(tmp_path / "batched", OPTS)
        fill(batched)
        got, got_dump = _spans(batched), dump(batched.querier(0, 2**62))
        batched.close()
    assert got == want and got_dump == want_dump
    batch = OPTS.page_rows * head_compress._FRAMES_PER_BATCH
    assert series > batch and calls
    # at most a batch of rows decoded at once; a call reads one page or pages of few samples
    assert max(r for r, _ in calls) <= batch, calls
    assert max(s for _, s in calls) <= max(64, OPTS.chunk_slots * batch), calls
    if shape == "wide":
        # the spill rows of both full windows were read (and the third window's)
        spilled = sum(r for r, _ in calls)
        assert spilled >= 2 * series


def test_a_batch_out_of_time_order_across_pages_is_merged_the_general_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends keep each series' spills in time order; should a window's pages come out of
    order all the same, the batches holding such series are merged (as the general way
    does for the whole window) and the other batches still copied as blocks."""
    fell_back: list[bool] = []
    real_rows_of = head_compress._WindowGrid.rows_of

    def rows_of(self: head_compress._WindowGrid, sub: np.ndarray, spills: object) -> object:
        out = real_rows_of(self, sub, spills)  # type: ignore[arg-type]
        fell_back.append(out is None)
        return out

    def swap_first_pages(db: TSDB) -> None:
        real_finalize = db.head.finalize

        def finalize(wid: int) -> None:
            w = db.head.windows[wid]
            first = w.spills[0].refs().tolist()
            later = [i for i, p in enumerate(w.spills) if i and p.refs().tolist() == first]
            if later:  # the first target's first two spills: its samples out of order
                w.spills[0], w.spills[later[0]] = w.spills[later[0]], w.spills[0]
            real_finalize(wid)

        db.head.finalize = finalize  # type: ignore[method-assign]

    dumps = []
    spans = []
    for name, general in (("general", True), ("grid", False)):
        with monkeypatch.context() as m:
            if general:
                m.setattr(head_compress._WindowGrid, "plan", staticmethod(lambda *a: None))
            m.setattr(head_compress._WindowGrid, "rows_of", rows_of)
            db = TSDB.open(tmp_path / name, OPTS)
            swap_first_pages(db)
            _wide(db, own_names=True)  # the first target's series in the first batches only
            spans.append(_spans(db))
            dumps.append(dump(db.querier(0, 2**62)))
            db.close()
    assert spans[0] == spans[1] and dumps[0] == dumps[1]
    assert any(fell_back) and not all(fell_back), fell_back
