"""The page codec round-trips every bit pattern and compresses regular data well."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardia.model import STALE_NAN
from guardia.storage.tsdb.chunks import (
    _HEADER,
    ChunkCorruptError,
    _encode_page_v1,
    decode_page,
    decode_page_rows,
    decode_pages_rows,
    encode_page,
    page_counts,
)

finite_or_special = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**60), 2**60).map(float),
    st.just(STALE_NAN),
    st.just(-0.0),
)


@given(
    rows=st.lists(
        st.lists(st.tuples(st.integers(-(2**40), 2**40), finite_or_special), min_size=1, max_size=20),
        max_size=8,
    )
)
@settings(max_examples=200, deadline=None)
def test_it_round_trips_any_rows_bit_for_bit(rows: list[list[tuple[int, float]]]) -> None:
    counts, ts, vs = [], [], []
    for row in rows:
        uniq = sorted({t: v for t, v in row}.items())
        counts.append(len(uniq))
        ts.extend(t for t, _ in uniq)
        vs.extend(v for _, v in uniq)
    c = np.array(counts, dtype=np.int32)
    t = np.array(ts, dtype=np.int64)
    v = np.array(vs, dtype=np.float64)
    c2, t2, v2 = decode_page(encode_page(c, t, v))
    assert c2.tolist() == c.tolist()
    assert t2.tolist() == t.tolist()
    assert v2.view(np.uint64).tolist() == v.view(np.uint64).tolist()


def test_it_keeps_the_staleness_marker_bits() -> None:
    c = np.array([3, 2], dtype=np.int32)
    t = np.array([0, 15, 30, 0, 15], dtype=np.int64)
    v = np.array([1.0, 2.0, STALE_NAN, float("nan"), STALE_NAN])
    _, _, v2 = decode_page(encode_page(c, t, v))
    assert v2.view(np.uint64).tolist() == v.view(np.uint64).tolist()


def test_a_scrape_grid_of_counters_costs_about_a_byte_per_sample() -> None:
    rng = np.random.default_rng(7)
    n, k = 1000, 16
    ts = np.tile(np.arange(k, dtype=np.int64) * 15_000 + 1_700_000_000_000, n)
    vs = np.cumsum(rng.poisson(20, size=(n, k)), axis=1).ravel().astype(np.float64)
    blob = encode_page(np.full(n, k, dtype=np.int32), ts, vs)
    assert len(blob) / (n * k) < 1.2


def test_a_damaged_page_is_reported_not_misread() -> None:
    blob = bytearray(encode_page(np.array([2], dtype=np.int32), np.array([1, 2]), np.array([1.0, 2.0])))
    blob[0:4] = b"XXXX"
    with pytest.raises(ChunkCorruptError):
        decode_page(bytes(blob))
    with pytest.raises(ChunkCorruptError):
        decode_page(bytes(blob[:10]))


def test_row_subsets_decode_like_the_whole_page() -> None:
    """Adjacent rows (sliced), scattered rows (gathered), equal and unequal row lengths."""
    rng = np.random.default_rng(7)
    for equal in (True, False):
        n = 9
        counts = np.full(n, 6, dtype=np.int32) if equal else rng.integers(1, 9, n).astype(np.int32)
        ts = np.concatenate([np.sort(rng.choice(10**6, c, replace=False)) for c in counts.tolist()])
        vs = rng.integers(-50, 50, ts.shape[0]).astype(np.float64)
        float_rows = np.repeat(np.arange(n) % 3 == 0, counts)
        vs[float_rows] = rng.standard_normal(int(float_rows.sum()))
        blob = encode_page(counts, ts.astype(np.int64), vs)
        c_all, t_all, v_all = decode_page(blob)
        starts = np.concatenate(([0], np.cumsum(c_all)[:-1]))
        for rows in (np.arange(2, 6), np.array([0, 3, 4, 8]), np.arange(n)):
            c, t, v = decode_page_rows(blob, rows.astype(np.int64))
            idx = np.concatenate([np.arange(starts[r], starts[r] + c_all[r]) for r in rows])
            np.testing.assert_array_equal(c, c_all[rows])
            np.testing.assert_array_equal(t, t_all[idx])
            np.testing.assert_array_equal(v.view(np.uint64), v_all[idx].view(np.uint64))


@pytest.mark.parametrize("kind", ["int", "float", "mixed"])
def test_rows_without_samples_encode_and_decode_anywhere(kind: str) -> None:
    """Empty rows first, last, in a run, alone, or every row: whole pages and row subsets."""
    rng = np.random.default_rng(11)
    layouts = [[0, 3, 2], [3, 2, 0], [2, 0, 0, 4], [0], [0, 0], [4, 0, 4], [0, 5, 0, 5, 0]]
    for layout in layouts:
        counts = np.array(layout, dtype=np.int32)
        ts = np.concatenate([np.arange(c, dtype=np.int64) * 15 + 1000 for c in layout])
        vs = rng.integers(0, 99, ts.shape[0]).astype(np.float64)
        if kind != "int":
            floats = np.repeat(np.arange(len(layout)) % 2 == 0, counts) if kind == "mixed" else slice(None)
            vs[floats] = rng.standard_normal(vs[floats].shape[0])
        blob = encode_page(counts, ts, vs)
        c, t, v = decode_page(blob)
        assert c.tolist() == layout and t.tolist() == ts.tolist()
        assert v.view(np.uint64).tolist() == vs.view(np.uint64).tolist()
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        n = len(layout)
        for rows in [np.array([r]) for r in range(n)] + [np.arange(1, n), np.arange(0, n, 2)]:
            if not rows.size:
                continue
            c, t, v = decode_page_rows(blob, rows.astype(np.int64))
            idx = np.concatenate([np.arange(starts[r], starts[r] + counts[r]) for r in rows]).astype(np.int64)
            assert c.tolist() == counts[rows].tolist()
            assert t.tolist() == ts[idx].tolist()
            assert v.view(np.uint64).tolist() == vs[idx].view(np.uint64).tolist()


def _random_page(rng: np.random.Generator, shape: str) -> bytes:
    n = int(rng.integers(1, 12))
    if shape == "shared":  # one target's scrape: every row the same timestamps
        counts = np.full(n, 5, dtype=np.int32)
        ts = np.tile(np.arange(5, dtype=np.int64) * 15_000 + int(rng.integers(0, 10**6)), n)
    else:
        counts = rng.integers(0 if shape == "sparse" else 1, 8, n).astype(np.int32)
        ts = np.concatenate([np.sort(rng.choice(10**6, c, replace=False)) for c in counts.tolist()])
    vs = rng.integers(-50, 50, ts.shape[0]).astype(np.float64)
    floats = np.repeat(rng.random(n) < 0.4, counts)
    vs[floats] = rng.standard_normal(int(floats.sum()))
    return encode_page(counts, ts.astype(np.int64), vs)


@pytest.mark.parametrize("seed", range(12))
def test_many_pages_decode_together_as_one_by_one(seed: int) -> None:
    """The batched decoder: pages with a shared timestamp row (the same one or different
    ones), per-row timestamps, empty rows, adjacent, scattered and all rows, and damaged
    pages, which are reported by position while the others are decoded."""
    rng = np.random.default_rng(seed)
    same = _random_page(rng, "shared")
    items: list[tuple[bytes, np.ndarray | None]] = []
    want_c: list[int] = []
    want_t: list[int] = []
    want_v: list[int] = []
    damaged: list[int] = []
    for i in range(int(rng.integers(1, 9))):
        shape = str(rng.choice(["shared", "same", "rows", "sparse", "bad"]))
        blob = same if shape == "same" else _random_page(rng, "shared" if shape == "bad" else shape)
        if shape == "bad":
            blob = blob[:4] + b"\xff" * 8 + blob[12:]  # a header that lies about its rows
            damaged.append(i)
            items.append((blob, None))
            continue
        c_all, _, _ = decode_page(blob)
        n = c_all.shape[0]
        pick = rng.integers(0, 3)
        rows = None if pick == 0 else np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        if pick == 1 and rows is not None:
            rows = np.arange(int(rows[0]), n)
        items.append((blob, None if rows is None else rows.astype(np.int64)))
        c, t, v = decode_page_rows(blob, items[-1][1])
        want_c += c.tolist()
        want_t += t.tolist()
        want_v += v.view(np.uint64).tolist()
    got = decode_pages_rows(items)
    assert [i for i, _ in got.bad] == damaged
    assert got.ok == [i for i in range(len(items)) if i not in damaged]
    ts = got.ts if got.ts is not None else np.tile(got.row, got.counts.shape[0])
    assert got.counts.tolist() == want_c
    assert ts.tolist() == want_t
    assert got.vs.view(np.uint64).tolist() == want_v


def _rows_page(rng: np.random.Generator, n: int, shape: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if shape == "shared":
        k = int(rng.integers(1, 9))
        counts = np.full(n, k, dtype=np.int32)
        ts = np.tile(np.arange(k, dtype=np.int64) * 15_000 + int(rng.integers(0, 10**6)), n)
    else:
        counts = rng.integers(0 if shape == "sparse" else 1, 9, n).astype(np.int32)
        if shape == "equal":
            counts[:] = counts[0]
        ts = np.concatenate([np.sort(rng.choice(10**6, c, replace=False)) for c in counts.tolist()])
    vs = rng.integers(-50, 50, ts.shape[0]).astype(np.float64)
    floats = np.repeat(rng.random(n) < 0.4, counts)
    vs[floats] = rng.standard_normal(int(floats.sum()))
    vs[rng.random(vs.shape[0]) < 0.05] = STALE_NAN
    return counts, ts.astype(np.int64), vs


@pytest.mark.parametrize("seed", range(16))
def test_framed_pages_decode_any_rows_like_format_1(seed: int) -> None:
    """Pages cut into frames of a few rows (down to one): every selection of rows (one
    row, a few, a run, scattered, across frame edges, all) decodes to exactly what the
    same rows written in format 1 decode to, and what was written."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    counts, ts, vs = _rows_page(rng, n, str(rng.choice(["shared", "rows", "sparse", "equal"])))
    starts = np.concatenate(([0], np.cumsum(counts)))
    old = _encode_page_v1(counts, ts, vs)
    assert old[:4] == b"GPG1"
    for frame_samples in (1, 3, 8, 20, 10**6):
        blob = encode_page(counts, ts, vs, 1, frame_samples)
        gr = _HEADER.unpack_from(blob)[4]
        assert blob[:4] == b"GPG2" and (gr == 1 if frame_samples == 1 else True)
        picks = [None, np.arange(n), np.array([n - 1]), np.arange(n // 2, n)]
        picks += [np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False)) for _ in range(4)]
        for rows in picks:
            r = None if rows is None else rows.astype(np.int64)
            c, t, v = decode_page_rows(blob, r)
            c1, t1, v1 = decode_page_rows(old, r)
            sel = np.arange(n) if rows is None else rows
            idx = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in sel]).astype(np.int64)
            assert c.tolist() == c1.tolist() == counts[sel].tolist()
            assert t.tolist() == t1.tolist() == ts[idx].tolist()
            bits = v.view(np.uint64).tolist()
            assert bits == v1.view(np.uint64).tolist() == vs[idx].view(np.uint64).tolist()


def _frames(blob: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(rows per frame, [(start, end)] of each frame in the page)."""
    _magic, n, _total, _flags, gr, lc, lf, lt = _HEADER.unpack_from(blob)
    ng = -(-n // gr)
    table = _HEADER.size + lc + lf + lt
    lens = np.frombuffer(blob, dtype="<u4", count=ng, offset=table).tolist()
    pos = table + 4 * ng
    spans = []
    for ln in lens:
        spans.append((pos, pos + ln))
        pos += ln
    return gr, spans


def test_a_read_inflates_only_the_frames_holding_its_rows() -> None:
    """Garbage in one frame: rows of the other frames still decode, a row of that frame
    is an error that names the frame."""
    counts = np.full(64, 30, dtype=np.int32)
    ts = np.tile(np.arange(30, dtype=np.int64) * 15_000, 64)
    vs = np.arange(64 * 30, dtype=np.float64)
    blob = encode_page(counts, ts, vs, 1, 120)  # 4 rows per frame: 16 frames
    gr, spans = _frames(blob)
    assert gr == 4 and len(spans) == 16
    a, b = spans[5]  # rows 20..23
    damaged = blob[:a] + bytes(b - a) + blob[b:]
    for rows in ([0], [19, 24], [3, 40, 63]):
        _, _, v = decode_page_rows(damaged, np.array(rows, dtype=np.int64))
        assert v.tolist() == [float(r * 30 + i) for r in rows for i in range(30)]
    with pytest.raises(ChunkCorruptError, match="frame 5 of 16"):
        decode_page_rows(damaged, np.array([21], dtype=np.int64))
    with pytest.raises(ChunkCorruptError, match="frame 5 of 16"):
        decode_page(damaged)


def test_bad_framing_is_a_clear_error_not_wrong_data() -> None:
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 20, 40).astype(np.int32)
    ts = np.concatenate([np.arange(c, dtype=np.int64) * 1000 for c in counts.tolist()])
    vs = rng.standard_normal(ts.shape[0])
    blob = encode_page(counts, ts, vs, 1, 30)
    _, spans = _frames(blob)
    table = spans[0][0] - 4 * len(spans)
    lens = np.frombuffer(blob, dtype="<u4", count=len(spans), offset=table).copy()

    def with_table(new: np.ndarray) -> bytes:
        return blob[:table] + new.astype("<u4").tobytes() + blob[table + 4 * len(spans) :]

    longer = lens.copy()
    longer[2] += 5
    swapped = lens.copy()
    swapped[[1, 2]] = swapped[[2, 1]]
    header = bytearray(blob)
    _HEADER.pack_into(header, 0, *(_HEADER.unpack_from(blob)[:4]), 0, *(_HEADER.unpack_from(blob)[5:]))
    cases = {
        "frame table covers": with_table(longer),
        "frame 1 of": with_table(swapped),
        "shorter than its header": blob[: table + 2],
        "0 rows per frame": bytes(header),
        "frame table covers .* bytes of frames": blob[:-3],
    }
    for expected, bad in cases.items():
        for rows in (None, np.array([4], dtype=np.int64), np.arange(0, 40, 3, dtype=np.int64)):
            with pytest.raises(ChunkCorruptError, match=expected):
                decode_page_rows(bad, rows)
        got = decode_pages_rows([(blob, None), (bad, None), (blob, np.array([1], dtype=np.int64))])
        assert got.ok == [0, 2] and got.bad[0][0] == 1
        assert got.counts.tolist() == [*counts.tolist(), int(counts[1])]


def test_framing_costs_little_on_a_scrape_grid() -> None:
    """Frames of ~2,000 samples against one stream for the page: a few percent at most on
    a realistic page (16 rows of counters, 480 samples each, as a 2-hour block holds)."""
    rng = np.random.default_rng(7)
    n, k = 256, 480
    ts = np.tile(np.arange(k, dtype=np.int64) * 15_000 + 1_700_000_000_000, n)
    vs = np.cumsum(rng.poisson(20, size=(n, k)), axis=1).ravel().astype(np.float64)
    counts = np.full(n, k, dtype=np.int32)
    framed = len(encode_page(counts, ts, vs, 9, 1024))
    whole = len(_encode_page_v1(counts, ts, vs, 9))
    assert framed / whole < 1.1


@pytest.mark.parametrize("seed", range(8))
def test_a_batch_of_equal_row_pages_decodes_to_its_input(seed: int) -> None:
    """The gather path for pages whose rows are equally long (the head's and most blocks'
    pages): runs of pages with the same frame shape share one gather, a page's short last
    frame is padded into its slot, frames hold up to 1, 5, 16 or 64 rows, shared and
    per-row timestamps alternate, and a few or many rows of each page are asked.  Every
    selected row comes back exactly as written."""
    rng = np.random.default_rng(seed)
    items: list[tuple[bytes, np.ndarray | None]] = []
    want_c: list[int] = []
    want_t: list[int] = []
    want_v: list[int] = []
    for _ in range(int(rng.integers(2, 12))):
        n = int(rng.integers(1, 200))
        c = int(rng.choice([1, 3, 16, 40]))
        start = int(rng.integers(0, 10**6))
        shared = bool(rng.random() < 0.5)
        row = np.arange(c, dtype=np.int64) * 15_000 + start
        own = [row + int(rng.integers(0, 999)) for _ in range(n)]
        ts = np.tile(row, n) if shared else np.concatenate(own)
        vs = rng.integers(-50, 50, n * c).astype(np.float64)
        floats = np.repeat(rng.random(n) < 0.4, c)
        vs[floats] = rng.standard_normal(int(floats.sum()))
        vs[rng.random(n * c) < 0.02] = STALE_NAN
        frame = int(rng.choice([16, 64, 2048]))
        most = int(rng.choice([1, 5, 16, 64]))  # a head window's pages: 16 rows at most
        blob = encode_page(np.full(n, c, dtype=np.int32), ts, vs, frame_samples=frame, max_rows=most)
        assert blob[12] & 2  # the flags byte: rows of equal length
        assert _HEADER.unpack_from(blob)[4] <= most
        pick = int(rng.integers(0, 3))
        if pick == 0:
            rows = None
            want = np.arange(n)
        else:
            k = int(rng.integers(1, 9)) if pick == 1 else int(rng.integers(1, n + 1))
            want = np.sort(rng.choice(n, min(k, n), replace=False))
            rows = want.astype(np.int64)
        items.append((blob, rows))
        for r in want.tolist():
            want_c.append(c)
            want_t += ts[r * c : (r + 1) * c].tolist()
            want_v += vs[r * c : (r + 1) * c].view(np.uint64).tolist()
    got = decode_pages_rows(items)
    assert not got.bad
    ts_got = got.ts if got.ts is not None else np.tile(got.row, got.counts.shape[0])
    assert got.counts.tolist() == want_c
    assert ts_got.tolist() == want_t
    assert got.vs.view(np.uint64).tolist() == want_v


def test_row_counts_come_from_the_header_and_counts_stream_alone() -> None:
    """``page_counts`` (what a window's compression plans from) gives the decoded counts of
    pages of equal rows, of rows of different lengths and of format 1, and names what is
    wrong with a damaged page instead of guessing."""
    rng = np.random.default_rng(7)
    counts = rng.integers(1, 20, 50).astype(np.int32)
    ts = np.concatenate([np.arange(c, dtype=np.int64) * 1000 for c in counts.tolist()])
    vs = rng.standard_normal(ts.shape[0])
    equal = np.full(30, 16, dtype=np.int32)
    ets = np.tile(np.arange(16, dtype=np.int64) * 5000, 30)
    for c, blob in (
        (counts, encode_page(counts, ts, vs)),
        (equal, encode_page(equal, ets, rng.standard_normal(ets.shape[0]))),
        (counts, _encode_page_v1(counts, ts, vs)),
    ):
        got = page_counts(blob)
        assert got.dtype == np.int32 and got.tolist() == c.tolist() == decode_page(blob)[0].tolist()
        # the frames are not read: zeroing them changes nothing here (decoding them fails)
        assert page_counts(blob[:-8] + bytes(8)).tolist() == c.tolist()
    blob = encode_page(counts, ts, vs)
    head = list(_HEADER.unpack_from(blob))
    more = bytearray(blob)
    _HEADER.pack_into(more, 0, *head[:2], head[2] + 1, *head[3:])
    odd = bytearray(encode_page(equal, ets, ets.astype(np.float64)))
    ehead = list(_HEADER.unpack_from(odd))
    _HEADER.pack_into(odd, 0, *ehead[:2], ehead[2] + 1, *ehead[3:])
    cases = {
        "truncated page header": blob[:10],
        "bad page magic": b"XXXX" + blob[4:],
        "shorter than its header": blob[: _HEADER.size + 3],
        "row counts add up to": bytes(more),
        "rows are equal but holds": bytes(odd),
        "row counts does not decompress": blob[: _HEADER.size] + bytes(len(blob) - _HEADER.size),
    }
    for expected, bad in cases.items():
        with pytest.raises(ChunkCorruptError, match=expected):
            page_counts(bad)
