"""The log store: heads and chunks, WAL replay, retention, limits."""

from __future__ import annotations

import numpy as np
import pytest

from guardia.logs import LogStore, PushError, PushStream, StoreOptions
from guardia.logs.chunk import Lines, decode, encode
from guardia.model import Labels, Matcher

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
APP = Labels({"job": "app"})


def _all_lines(store: LogStore, labels: Labels = APP) -> list[tuple[int, bytes]]:
    s = store.select([Matcher.equal(k, v) for k, v in labels])[0]
    out: list[tuple[int, bytes]] = []
    for p in store.read(s, -(1 << 62), 1 << 62):
        out.extend((int(p.ts[i]), p.line(i)) for i in range(len(p)))
    return sorted(out)


def test_chunk_round_trip_keeps_lines_with_newlines_and_unicode() -> None:
    ts = np.array([T0, T0 + 1, T0 + 5], dtype=np.int64)
    lines = [b"plain", "ñandú \u2603".encode(), b"two\nlines"]
    data, raw = encode(ts, lines)
    got = decode(data)
    assert raw == sum(map(len, lines))
    assert got.ts.tolist() == ts.tolist()
    assert [got.line(i) for i in range(3)] == lines


def test_lines_from_list_offsets_match_text() -> None:
    ls = Lines.from_list(np.array([1, 2], dtype=np.int64), [b"ab", b"c"])
    assert ls.text == b"ab\nc"
    assert (ls.line(0), ls.line(1)) == (b"ab", b"c")


def test_it_keeps_out_of_order_lines_sorted_for_readers(tmp_path) -> None:
    store = LogStore(tmp_path)
    store.push([PushStream(APP, [T0 + 3, T0 + 1], [b"c", b"a"])])
    store.push([PushStream(APP, [T0 + 2], [b"b"])])
    assert _all_lines(store) == [(T0 + 1, b"a"), (T0 + 2, b"b"), (T0 + 3, b"c")]
    store.flush()
    assert _all_lines(store) == [(T0 + 1, b"a"), (T0 + 2, b"b"), (T0 + 3, b"c")]


def test_wal_replay_restores_unflushed_lines_without_duplicating_flushed_ones(tmp_path) -> None:
    store = LogStore(tmp_path)
    store.push([PushStream(APP, [T0], [b"cut"])])
    store.flush()
    store.push([PushStream(APP, [T0 + 1], [b"head"])])
    store.wal._f.flush()
    # no close(): as after a crash
    again = LogStore(tmp_path)
    assert _all_lines(again) == [(T0, b"cut"), (T0 + 1, b"head")]


def test_a_torn_wal_record_is_cut_off_and_the_rest_replays(tmp_path) -> None:
    store = LogStore(tmp_path)
    store.push([PushStream(APP, [T0], [b"first"])])
    store.push([PushStream(APP, [T0 + 1], [b"second"])])
    seg = sorted((tmp_path / "wal").iterdir())[-1]
    data = seg.read_bytes()
    seg.write_bytes(data[:-3])
    again = LogStore(tmp_path)
    assert _all_lines(again) == [(T0, b"first")]
    again.push([PushStream(APP, [T0 + 2], [b"third"])])
    assert _all_lines(LogStore(tmp_path)) == [(T0, b"first"), (T0 + 2, b"third")]


def test_full_heads_are_cut_into_chunks_of_the_target_size(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(chunk_target_bytes=1000))
    lines = [b"x" * 99 for _ in range(50)]
    store.push([PushStream(APP, [T0 + i for i in range(50)], lines)])
    s = store.select([Matcher.equal("job", "app")])[0]
    store.wait()
    assert len(s.chunks) == 5
    assert all(c.raw_bytes <= 1000 for c in s.chunks)
    assert not s.head_ts
    assert len(_all_lines(store)) == 50
    store.close()
    assert len(_all_lines(LogStore(tmp_path))) == 50


def test_closed_store_reopens_with_its_index(tmp_path) -> None:
    store = LogStore(tmp_path)
    store.push([PushStream(APP, [T0], [b"a"]), PushStream(Labels({"job": "db"}), [T0], [b"b"])])
    store.close()
    again = LogStore(tmp_path)
    assert again.label_values("job", -(1 << 62), 1 << 62) == ["app", "db"]
    assert again.label_names(-(1 << 62), 1 << 62) == ["job"]


def test_retention_by_time_deletes_old_segments(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(chunk_segment_bytes=1, retention_ms=3600_000))
    now_ms = T0 // 1_000_000
    store.push([PushStream(APP, [T0 - 7200 * NS], [b"old"])])
    store.flush()
    store.push([PushStream(APP, [T0 - 60 * NS], [b"new"])])
    store.flush()
    store.push([PushStream(APP, [T0], [b"head"])])
    rep = store.maintain(now_ms)
    assert rep["segments_deleted"] == 1
    assert [line for _, line in _all_lines(store)] == [b"new", b"head"]
    store.close()
    assert [line for _, line in _all_lines(LogStore(tmp_path))] == [b"new", b"head"]


def test_retention_by_size_keeps_the_newest_segments(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(chunk_segment_bytes=1, retention_ms=0, retention_bytes=1))
    for i in range(3):
        store.push([PushStream(APP, [T0 + i], [f"line {i}".encode()])])
        store.flush()
    store.maintain(T0 // 1_000_000)
    assert [line for _, line in _all_lines(store)] == [b"line 2"]


def test_the_stream_limit_refuses_new_streams_with_a_clear_error(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(max_streams=2))
    store.push([PushStream(Labels({"job": str(i)}), [T0], [b"x"]) for i in range(2)])
    with pytest.raises(PushError) as info:
        store.push(
            [PushStream(Labels({"job": "new"}), [T0], [b"x"]), PushStream(Labels({"job": "0"}), [T0], [b"y"])]
        )
    assert "stream limit of 2" in str(info.value)
    assert "max_streams" in str(info.value)
    assert info.value.accepted == 1


def test_too_long_lines_and_bad_labels_are_refused(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(max_line_bytes=10))
    with pytest.raises(PushError) as info:
        store.push(
            [
                PushStream(APP, [T0, T0 + 1], [b"short", b"x" * 11]),
                PushStream(Labels({"bad-name": "x"}), [T0], [b"a"]),
                PushStream(Labels(), [T0], [b"a"]),
            ]
        )
    msg = str(info.value)
    assert "exceed 10 bytes" in msg and "max_line_size" in msg
    assert "invalid label name 'bad-name'" in msg
    assert "at least one label" in msg
    assert _all_lines(store) == [(T0, b"short")]


def test_stats_count_streams_chunks_entries_and_bytes(tmp_path) -> None:
    store = LogStore(tmp_path)
    store.push([PushStream(APP, [T0, T0 + 1], [b"ab", b"cde"])])
    store.flush()
    store.push([PushStream(APP, [T0 + 2], [b"f"])])
    assert store.stats([Matcher.equal("job", "app")], 0, 1 << 62) == {
        "streams": 1,
        "chunks": 2,
        "entries": 3,
        "bytes": 6,
    }
