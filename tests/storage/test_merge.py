"""The matrix fast path of ``merge.assemble`` must give what the general scatter path gives."""

from __future__ import annotations

import numpy as np
import pytest

from guardia.storage.tsdb.merge import Fragment, _assemble_grid, _assemble_scatter, assemble, trim


def _frag(qidx: list[int], c: int, t0: int, rng: np.random.Generator) -> Fragment:
    q = np.array(qidx, dtype=np.int64)
    ts = np.tile(np.arange(t0, t0 + c * 15, 15, dtype=np.int64), q.shape[0])
    vs = rng.standard_normal(ts.shape[0])
    return Fragment(q, np.full(q.shape[0], c, dtype=np.int64), ts, vs)


def _check(m: int, frags: list[Fragment], mint: int, maxt: int) -> tuple[np.ndarray, ...]:
    got = assemble(m, [Fragment(f.qidx, f.counts, f.ts, f.vs) for f in frags], mint, maxt)
    want = _assemble_scatter(m, frags, mint, maxt)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    return got


def test_uniform_windows_take_the_matrix_path_and_match() -> None:
    rng = np.random.default_rng(1)
    # Two windows, series spread over frames in a shuffled (label) order, one series absent.
    frags = [
        _frag([3, 0, 5], 4, 0, rng), _frag([1, 2], 4, 0, rng),
        _frag([2, 5, 3], 2, 60, rng), _frag([0, 1], 2, 60, rng),
    ]
    trimmed = [trim(f, -(2**62), 2**62) for f in frags]
    assert _assemble_grid(7, trimmed) is not None
    counts, _, _ = _check(7, frags, -(2**62), 2**62)
    assert counts.tolist() == [6, 6, 6, 6, 0, 6, 0]


@pytest.mark.parametrize(("mint", "maxt"), [(15, 60), (-100, 40), (30, 30), (200, 300)])
def test_trimmed_ranges_match(mint: int, maxt: int) -> None:
    rng = np.random.default_rng(2)
    frags = [_frag([0, 1, 2], 4, 0, rng), _frag([0, 1, 2], 3, 60, rng)]
    _check(3, frags, mint, maxt)


def test_overlap_and_uneven_rows_fall_back() -> None:
    rng = np.random.default_rng(3)
    overlapping = [_frag([0, 1], 4, 0, rng), _frag([0, 1], 4, 30, rng)]
    assert _assemble_grid(2, overlapping) is None
    counts, ts, _ = _check(2, overlapping, -(2**62), 2**62)
    assert counts.tolist() == [6, 6]
    assert (np.diff(ts[:6]) > 0).all()
    uneven = [_frag([0], 4, 0, rng), _frag([1], 2, 0, rng), _frag([0, 1], 2, 60, rng)]
    assert _assemble_grid(2, uneven) is None
    _check(2, uneven, -(2**62), 2**62)


def test_random_fragments_match() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        m = int(rng.integers(1, 8))
        frags = []
        t0 = 0
        for _ in range(int(rng.integers(1, 5))):
            q = sorted(rng.choice(m, int(rng.integers(1, m + 1)), replace=False).tolist())
            rng.shuffle(q)
            c = int(rng.integers(1, 5))
            frags.append(_frag(q, c, t0, rng))
            t0 += int(rng.integers(-30, 90))
        lo, hi = sorted(rng.integers(-50, 400, 2).tolist())
        _check(m, frags, lo, hi)


def test_shared_timestamp_rows_assemble_like_materialised_ones() -> None:
    rng = np.random.default_rng(6)
    for mint, maxt in ((-(2**62), 2**62), (20, 70)):
        plain = [_frag([2, 0], 4, 0, rng), _frag([1, 0, 2], 3, 60, rng)]
        shared = [
            Fragment(f.qidx, f.counts, None, f.vs, f.ts[: int(f.counts[0])].copy()) for f in plain
        ]
        got = assemble(3, shared, mint, maxt)
        want = _assemble_scatter(3, plain, mint, maxt)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_rows_permuting_a_contiguous_range_land_on_their_own_series() -> None:
    # Block writing remaps a source's fragments into label order: qidx [0, 2, 1, 3] spans
    # a contiguous range without being in order, and must not be copied as one slice.
    rng = np.random.default_rng(2)
    frags = [_frag([0, 2, 1, 3], 3, 0, rng)]
    assert _assemble_grid(4, [trim(f, -(2**62), 2**62) for f in frags]) is not None
    counts, _, vs = _check(4, frags, -(2**62), 2**62)
    assert counts.tolist() == [3, 3, 3, 3]
    mine = frags[0].vs.reshape(4, 3)
    assert vs.reshape(4, 3)[2].tolist() == mine[1].tolist()  # series 2 is the second row
