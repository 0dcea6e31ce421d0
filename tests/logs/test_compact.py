"""Compaction (fast-level chunks rewritten at the storage level) and deletion of lines."""

from __future__ import annotations

import random
import threading
import time

import numpy as np

from guardia.logs import LogStore, PushStream, StoreOptions
from guardia.logs import chunk as chunkfmt
from guardia.model import Labels, Matcher

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
APP = Labels({"job": "app"})
WEB = Labels({"job": "web"})


def _lines(store: LogStore, labels: Labels = APP) -> list[tuple[int, bytes]]:
    found = store.select([Matcher.equal(k, v) for k, v in labels])
    if not found:
        return []
    out: list[tuple[int, bytes]] = []
    for p in store.read(found[0], -(1 << 62), 1 << 62):
        out.extend((int(p.ts[i]), p.line(i)) for i in range(len(p)))
    return sorted(out)


def _fill(store: LogStore, labels: Labels, n: int, seed: int, t0: int = T0) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    words = [b"GET", b"POST", b"/api/orders", b"/login", b"200", b"500", b"404", b"curl/8", b"Mozilla/5.0"]
    ts = [t0 + i * 1000 for i in range(n)]
    lines = [b" ".join(rng.choice(words) for _ in range(12)) + b" %d" % i for i in range(n)]
    for i in range(0, n, 1000):
        store.push([PushStream(labels, ts[i : i + 1000], lines[i : i + 1000])])
    return list(zip(ts, lines, strict=True))


def _index_kinds(store: LogStore) -> set[bytes]:
    data = (store.path / "index").read_bytes()
    kinds, pos = set(), 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "little")
        kinds.add(data[pos + 8 : pos + 9])
        pos += 8 + length
    return kinds


def test_cut_chunks_are_fast_and_compaction_rewrites_them_smaller_with_the_same_lines(tmp_path) -> None:
    opts = StoreOptions(chunk_target_bytes=64 << 10, chunk_segment_bytes=256 << 10)
    store = LogStore(tmp_path, opts)
    want_app = _fill(store, APP, 20_000, 1)
    want_web = _fill(store, WEB, 5_000, 2)
    store.flush()
    chunks = [c for s in store.streams if s is not None for c in s.chunks]
    assert chunks and all(c.fast for c in chunks)
    assert b"F" in _index_kinds(store)
    before_segments = store._chunk_segments()
    before = store.disk_bytes()
    assert store.compact() >= len(before_segments) - 1
    after = store.disk_bytes()
    assert after < before * 0.95, (before, after)
    assert not any(c.fast for s in store.streams if s is not None for c in s.chunks)
    assert not set(before_segments) & set(store._chunk_segments()[:-1])
    assert _lines(store) == want_app and _lines(store, WEB) == want_web
    store.close()
    again = LogStore(tmp_path, opts)
    assert _lines(again) == want_app and _lines(again, WEB) == want_web
    assert not any(c.fast for s in again.streams if s is not None for c in s.chunks)
    assert b"F" not in _index_kinds(again) and b"c" not in _index_kinds(again)
    assert again.compact() == 0  # nothing left to do
    again.close()


def test_maintain_compacts_when_pushes_stop_or_trickle_but_not_while_busy(tmp_path) -> None:
    opts = StoreOptions(chunk_target_bytes=4 << 10, chunk_segment_bytes=8 << 10, compact_idle_s=3600,
                        compact_busy_lines_per_s=0)  # every rate counts as busy
    store = LogStore(tmp_path, opts)
    want = _fill(store, APP, 6_000, 3, time.time_ns() - 60 * NS)  # recent: retention keeps them
    store.flush()
    segments = store._chunk_segments()
    assert len(segments) > 2
    assert store.maintain()["segments_compacted"] == 0  # busy, and pushes came a moment ago
    # a trickle: the closed segments are compacted, the one being appended to waits
    store.opts.compact_busy_lines_per_s = 1e12
    assert store.maintain()["segments_compacted"] == len(segments) - 1
    fast = {c.segment for c in store.streams[0].chunks if c.fast}  # type: ignore[union-attr]
    assert fast == {store._chunk_seg}
    # no push for compact_idle_s: everything
    store.opts.compact_idle_s = 0
    assert store.maintain()["segments_compacted"] == 1
    assert not any(c.fast for c in store.streams[0].chunks)  # type: ignore[union-attr]
    assert _lines(store) == want
    store.close()


def test_pushes_and_queries_during_compaction_lose_nothing(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(chunk_target_bytes=16 << 10, chunk_segment_bytes=64 << 10))
    want = _fill(store, APP, 10_000, 4)
    store.flush()
    more: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def pusher() -> None:
        try:
            for k in range(20):
                ts = [T0 + NS + (k * 100 + i) * 1000 for i in range(100)]
                lines = [b"late %d" % (k * 100 + i) for i in range(100)]
                store.push([PushStream(APP, ts, lines)])
                more.extend(zip(ts, lines, strict=True))
                assert len(_lines(store)) >= len(want)
        except BaseException as e:  # surfaced below
            errors.append(e)

    t = threading.Thread(target=pusher)
    t.start()
    store.compact()
    t.join()
    assert not errors
    assert _lines(store) == sorted(want + more)
    store.close()
    assert _lines(LogStore(tmp_path)) == sorted(want + more)


def test_segments_left_by_a_crash_mid_compaction_are_removed_at_open(tmp_path) -> None:
    store = LogStore(tmp_path)
    want = _fill(store, APP, 2_000, 5)
    store.close()
    orphan = tmp_path / "chunks" / "00000099"
    orphan.write_bytes(b"half-written compaction output")
    again = LogStore(tmp_path)
    assert not orphan.exists()
    assert _lines(again) == want
    again.close()


def test_recompress_keeps_the_chunk_content_byte_for_byte() -> None:
    ts = np.array([T0, T0 + 1, T0 + 2], dtype=np.int64)
    lines = chunkfmt.Lines.from_list(ts, [b"a", b"two\nlines", b"c"], [b"", b'{"k":"v"}', b""])
    fast, _ = chunkfmt.encode_lines(lines, chunkfmt.FAST_LEVEL)
    slow = chunkfmt.recompress(fast)
    a, b = chunkfmt.decode(fast), chunkfmt.decode(slow)
    assert a.text == b.text and a.ts.tolist() == b.ts.tolist() and a.meta == b.meta


def test_delete_removes_matching_lines_in_the_range_only_and_survives_a_restart(tmp_path) -> None:
    store = LogStore(tmp_path, StoreOptions(chunk_target_bytes=16 << 10))
    want = _fill(store, APP, 6_000, 6)
    web = _fill(store, WEB, 1_000, 7)
    lo, hi = want[1000][0], want[3999][0]

    def has_500(ls: chunkfmt.Lines) -> np.ndarray:
        return np.array([b" 500 " in ls.line(i) for i in range(len(ls))], dtype=np.bool_)

    removed = store.delete([Matcher.equal("job", "app")], lo, hi, has_500)
    expect = [(t, ln) for t, ln in want if not (lo <= t <= hi and b" 500 " in ln)]
    assert removed == len(want) - len(expect) > 0
    assert _lines(store) == expect
    assert _lines(store, WEB) == web  # another stream untouched
    store.close()
    again = LogStore(tmp_path)
    assert _lines(again) == expect
    # everything of the stream, then compaction reclaims the space
    assert again.delete([Matcher.equal("job", "app")], -(1 << 62), 1 << 62) == len(expect)
    assert _lines(again) == []
    again.compact()
    assert _lines(again, WEB) == web
    again.close()
    assert _lines(LogStore(tmp_path)) == []


def test_close_stops_a_compaction_under_way_and_nothing_is_lost(tmp_path, monkeypatch) -> None:
    store = LogStore(tmp_path, StoreOptions(chunk_target_bytes=8 << 10, chunk_segment_bytes=32 << 10))
    want = _fill(store, APP, 20_000, 8)
    store.flush()
    real = chunkfmt.recompress
    started = threading.Event()

    def slow(data: bytes, level: int = chunkfmt.LEVEL) -> bytes:
        started.set()
        threading.Event().wait(0.01)
        return real(data, level)

    # each chunk's recompression made slow, so close() comes while the compaction runs
    monkeypatch.setattr(chunkfmt, "recompress", slow)
    t = threading.Thread(target=store.compact)
    t.start()
    started.wait(5)
    store.close()  # returns without waiting for the whole compaction
    t.join(5)
    assert not t.is_alive()
    monkeypatch.undo()
    again = LogStore(tmp_path)
    assert _lines(again) == want
    assert any(c.fast for c in again.streams[0].chunks)  # type: ignore[union-attr]
    again.close()
