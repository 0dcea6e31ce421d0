"""Cutting the head into blocks, compaction, retention, snapshots, damaged blocks."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels, Matcher
from guardia.storage.tsdb import TSDB, TSDBOptions
from guardia.storage.tsdb.block import Block

from .conftest import dump

Open = Callable[..., TSDB]
MIN = 60_000
R = 10 * MIN  # a 10-minute block range keeps the tests small


def opts(**kw: int) -> TSDBOptions:
    base: dict[str, int] = {"block_range_ms": R, "retention_ms": 0, "chunk_slots": 4}
    base.update(kw)
    return TSDBOptions(**base)  # type: ignore[arg-type]


def scrape(db: TSDB, n_series: int, t_from: int, t_to: int, step: int = 15_000, name: str = "m") -> None:
    app = db.appender()
    refs = np.array([app.ref(Labels.of(__name__=name, i=str(i))) for i in range(n_series)])
    for t in range(t_from, t_to, step):
        app.append_batch(refs, t, np.full(n_series, float(t // 1000)))
        app.commit()


def test_the_head_is_cut_into_aligned_blocks_and_reads_stay_the_same(open_db: Open) -> None:
    db = open_db(opts(max_block_range_ms=R))  # no compaction here
    scrape(db, 30, 0, 4 * R)
    before = dump(db.querier(0, 10**9))
    rep = db.maintain()
    assert rep.blocks_cut
    assert [(b.mint, b.maxt + 1) for b in db.blocks][:2] == [(0, R), (R, 2 * R)]
    assert db.head.mint >= db.blocks[-1].maxt + 1
    assert dump(db.querier(0, 10**9)) == before
    # Appends older than the head are refused with a clear reason.
    app = db.appender()
    app.append(0, 1000, 1.0)
    assert app.commit().out_of_bounds == 1


def test_blocks_and_head_survive_a_restart(open_db: Open, tmp_path: Path) -> None:
    db = open_db(opts())
    scrape(db, 30, 0, 4 * R)
    db.maintain()
    scrape(db, 30, 4 * R, 4 * R + 5 * MIN)
    before = dump(db.querier(0, 10**9))
    db.close()
    db2 = open_db(opts())
    assert dump(db2.querier(0, 10**9)) == before
    assert db2.metrics.registry.get_sample_value("prometheus_tsdb_blocks_loaded") == len(db2.blocks)


def test_compaction_merges_adjacent_blocks_into_a_larger_range(open_db: Open) -> None:
    db = open_db(opts())
    scrape(db, 10, 0, 8 * R)
    before = dump(db.querier(0, 10**9))
    rep = db.maintain()
    assert rep.compacted
    assert any(b.level >= 2 and b.maxt + 1 - b.mint == 3 * R for b in db.blocks)
    assert dump(db.querier(0, 10**9)) == before
    assert db.metrics.registry.get_sample_value("prometheus_tsdb_compactions_total") >= 1


def test_overlapping_blocks_are_merged_without_duplicates(open_db: Open, tmp_path: Path) -> None:
    db = open_db(opts())
    scrape(db, 5, 0, 2 * R)
    db.maintain()
    first = db.blocks[0].ulid
    db.snapshot(tmp_path / "snap")
    db.close()
    # Copy a block in twice under another name: same samples, overlapping range.
    src = tmp_path / "snap" / first
    copy = tmp_path / "data" / "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
    shutil.copytree(src, copy)
    meta = (copy / "meta.json").read_text().replace(src.name, copy.name)
    (copy / "meta.json").write_text(meta)
    db2 = open_db(opts())
    before = dump(db2.querier(0, 10**9))
    rep = db2.maintain()
    assert rep.compacted
    assert dump(db2.querier(0, 10**9)) == before
    s = db2.querier(0, 10**9).select([Matcher.equal("i", "0")])[0]
    assert (np.diff(s.timestamps) > 0).all()


def test_retention_by_time_deletes_old_blocks(open_db: Open) -> None:
    db = open_db(opts(retention_ms=2 * R, max_block_range_ms=R))
    scrape(db, 5, 0, 6 * R)
    rep = db.maintain()
    assert [why for _, why in rep.deleted] and {why for _, why in rep.deleted} == {"time"}
    newest = max(b.maxt for b in db.blocks) + 1
    assert all(b.maxt + 1 > newest - 2 * R for b in db.blocks)
    assert db.querier(0, R - 1).select([Matcher.equal("i", "0")]) == []
    assert db.metrics.registry.get_sample_value("prometheus_tsdb_time_retentions_total") >= 1


def test_retention_by_size_deletes_oldest_blocks_first(open_db: Open) -> None:
    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 50, 0, 6 * R)
    db.maintain()
    sizes = sorted((b.mint, b.size_bytes()) for b in db.blocks)
    assert len(sizes) >= 3
    wal_size = db.wal_bytes()
    assert wal_size > 0
    limit = sizes[-1][1] + sizes[-2][1] + wal_size + 10
    db2_opts = opts(max_block_range_ms=R, retention_bytes=limit)
    db.close()
    db2 = open_db(db2_opts)
    rep = db2.maintain()
    assert {why for _, why in rep.deleted} == {"size"}
    assert sum(b.size_bytes() for b in db2.blocks) + db2.wal_bytes() <= limit
    assert min(b.mint for b in db2.blocks) == sizes[-2][0]


def test_retention_by_size_counts_the_wal_and_head(open_db: Open, tmp_path: Path) -> None:
    """Blocks that fit the limit alone do not once the WAL (the head on disk) is counted, as
    Prometheus counts ``--storage.tsdb.retention.size``."""
    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 50, 0, 6 * R)
    db.maintain()
    sizes = sorted((b.mint, b.size_bytes()) for b in db.blocks)
    wal_size = db.wal_bytes()
    blocks_only = sum(sz for _, sz in sizes)
    limit = blocks_only + wal_size - sizes[0][1] // 2  # blocks alone fit easily; with the WAL, not
    assert blocks_only < limit
    db.close()
    db2 = open_db(opts(max_block_range_ms=R, retention_bytes=limit), tmp_path / "data")
    assert db2.wal_bytes() == wal_size
    rep = db2.maintain()
    assert len(rep.deleted) == 1 and rep.deleted[0][1] == "size"
    assert sorted((b.mint, b.size_bytes()) for b in db2.blocks) == sizes[1:]  # the oldest went
    assert sum(b.size_bytes() for b in db2.blocks) + db2.wal_bytes() <= limit


def test_snapshot_is_a_usable_copy_with_the_head(open_db: Open, tmp_path: Path) -> None:
    db = open_db(opts())
    scrape(db, 10, 0, 3 * R)
    db.maintain()
    before = dump(db.querier(0, 10**9))
    names = db.snapshot(tmp_path / "snap")
    assert len(names) == len(db.blocks) + 1
    restored = TSDB.open(tmp_path / "snap", opts())
    try:
        assert dump(restored.querier(0, 10**9)) == before
    finally:
        restored.close()


def test_a_damaged_block_page_is_reported_and_the_rest_served(
    open_db: Open, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_db(opts(block_page_rows=4))
    scrape(db, 12, 0, 2 * R)
    db.maintain()
    block = db.blocks[0]
    db.close()
    chunks = block.path / "chunks" / "000001"
    data = bytearray(chunks.read_bytes())
    data[len(data) // 2] ^= 0x55
    chunks.write_bytes(bytes(data))
    db2 = open_db(opts(block_page_rows=4))
    assert "block_chunk_corrupt" in caplog.text
    assert db2.metrics.registry.get_sample_value("guardia_tsdb_block_corruptions_total") == 1
    b2 = next(b for b in db2.blocks if b.ulid == block.ulid)
    assert len(b2.corrupt_pages) == 1
    got = db2.querier(block.mint, block.maxt).select([Matcher.equal("__name__", "m")])
    assert len(got) == 12 - 4  # one page of four series is gone, the others serve
    assert all(len(s) == R // 15_000 for s in got)


def test_an_unreadable_block_index_skips_the_block(open_db: Open, tmp_path: Path) -> None:
    db = open_db(opts())
    scrape(db, 3, 0, 3 * R)
    db.maintain()
    victim = db.blocks[0].path
    db.close()
    (victim / "index").write_bytes(b"garbage")
    db2 = open_db(opts())
    assert victim.name not in {b.ulid for b in db2.blocks}
    assert db2.querier(0, 10**9).select([Matcher.equal("i", "0")])


def test_block_files_are_readable_directly(open_db: Open) -> None:
    db = open_db(opts())
    scrape(db, 3, 0, 3 * R)
    db.maintain()
    b = Block(db.blocks[0].path)
    assert b.num_series == 3 and b.meta["stats"]["numSamples"] == 3 * R // 15_000
    b.close()


def test_appends_and_queries_go_on_while_a_block_is_written(open_db: Open) -> None:
    import threading

    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 200, 0, 3 * R)
    app = db.appender()
    refs = np.array([app.ref(Labels.of(__name__="m", i=str(i))) for i in range(200)])
    done = threading.Event()
    errors: list[BaseException] = []

    def maintain() -> None:
        try:
            db.maintain()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    th = threading.Thread(target=maintain)
    th.start()
    t = 3 * R
    while not done.is_set() or t < 3 * R + 20 * 15_000:
        app.append_batch(refs, t, np.full(200, float(t // 1000)))
        app.commit()
        assert db.querier(t, t).select([Matcher.equal("i", "7")])[0].values.tolist() == [t // 1000]
        t += 15_000
    th.join()
    assert not errors
    assert db.blocks
    s = db.querier(0, 10**9).select([Matcher.equal("i", "7")])[0]
    assert s.timestamps.tolist() == list(range(0, t, 15_000))
    assert s.values.tolist() == [float(x // 1000) for x in range(0, t, 15_000)]


def test_a_cut_ends_even_when_appends_outrun_the_block_writes(
    open_db: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While each block is written, a sender brings more than a block range of new data (a
    backfill, or the tight loop above).  ``maintain`` cuts the ranges that were due when it
    began and returns; the rest is cut by the next call.  Before, it chased the head for as
    long as the sender kept ahead, never reaching compaction, retention or the checkpoint."""
    import guardia.storage.tsdb.db as db_module

    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 20, 0, 3 * R)
    written: list[int] = []
    t_next = [3 * R]
    real_write_block = db_module.write_block

    def write_block_while_appending(*args: object, **kw: object) -> object:
        written.append(1)
        if len(written) <= 50:  # bounded, so the old behaviour fails instead of hanging
            scrape(db, 20, t_next[0], t_next[0] + 2 * R)
            t_next[0] += 2 * R
        return real_write_block(*args, **kw)

    monkeypatch.setattr(db_module, "write_block", write_block_while_appending)
    rep = db.maintain()
    assert len(rep.blocks_cut) == 2  # [0, R) and [R, 2R): due at the start, nothing more
    assert db.maintain().blocks_cut  # the next call cuts what became due meanwhile
    monkeypatch.undo()
    s = db.querier(0, t_next[0]).select([Matcher.equal("i", "7")])[0]
    assert s.timestamps.tolist() == list(range(0, t_next[0], 15_000))


def test_a_querier_keeps_reading_blocks_that_compaction_replaces(open_db: Open, tmp_path: Path) -> None:
    db = open_db(opts(max_block_range_ms=R))  # cut three blocks, no compaction yet
    scrape(db, 10, 0, 4 * R)
    db.maintain()
    assert len(db.blocks) == 3
    db.close()
    db2 = open_db(opts(), tmp_path / "data")
    want = dump(db2.querier(0, 3 * R - 1))
    q = db2.querier(0, 3 * R - 1)  # made before the compaction, read after it
    old = list(db2.blocks)
    assert db2.maintain().compacted
    assert all(not b.path.exists() for b in old)
    assert dump(q) == want
    q.close()
    assert dump(db2.querier(0, 3 * R - 1)) == want


def test_a_querier_keeps_reading_blocks_that_retention_deletes(open_db: Open) -> None:
    db = open_db(opts(max_block_range_ms=R, retention_ms=2 * R))
    scrape(db, 10, 0, 4 * R)
    db.maintain()
    kept = {b.ulid for b in db.blocks}
    assert kept
    want = dump(db.querier(0, 3 * R - 1))
    q = db.querier(0, 3 * R - 1)
    scrape(db, 10, 4 * R, 8 * R)
    rep = db.maintain()
    assert kept & {ulid for ulid, _ in rep.deleted}
    assert dump(q) == want  # the deleted blocks stay readable until the querier is done
    q.close()
    assert dump(db.querier(0, 3 * R - 1)) != want


def test_series_lists_label_sets_without_samples_from_blocks_and_head(open_db: Open) -> None:
    """``Querier.series`` (the series API) answers from the indexes: the same label sets
    as ``select`` over head and blocks, a series once even when both hold it, and the
    same refusal of a selector that matches everything."""
    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 12, 0, 3 * R)
    db.maintain()
    scrape(db, 12, 3 * R, 3 * R + 5 * MIN)
    scrape(db, 3, 3 * R, 3 * R + 5 * MIN, name="late")  # only in the head
    assert db.blocks
    for mint, maxt in ((0, 10**9), (0, R - 1), (3 * R, 10**9)):
        q = db.querier(mint, maxt)
        for ms in ([Matcher.equal("__name__", "m")], [Matcher.parse("i", "=~", "1.*")],
                   [Matcher.parse("__name__", "=~", ".+")]):
            got = q.series(ms)
            assert len(got) == len(set(got))
            assert sorted(got) == sorted(s.labels for s in q.select(ms)), (mint, maxt, ms)
        q.close()
    q = db.querier(0, R - 1)
    assert q.series([Matcher.equal("__name__", "late")]) == []
    with pytest.raises(ValueError, match="non-empty matcher"):
        q.series([Matcher.parse("x", "=~", ".*")])
    q.close()


def test_select_flat_holds_what_select_returns(open_db: Open) -> None:
    """The flat form the PromQL engine reads: same series, same samples, from head and
    blocks together, including ranges where some matched series have no samples."""
    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 2, 0, R // 2, name="gone")  # in the first block, no samples in its second half
    scrape(db, 8, 0, 3 * R)
    db.maintain()
    scrape(db, 8, 3 * R, 3 * R + 5 * MIN)
    scrape(db, 2, 3 * R + 4 * MIN, 3 * R + 5 * MIN, name="late")
    q = db.querier(R - 2 * MIN, R - MIN)
    assert q.series([Matcher.equal("__name__", "gone")])  # the block's index lists them
    assert q.select([Matcher.equal("__name__", "gone")]).labels == []  # without samples
    q.close()
    for mint, maxt in ((0, 10**9), (R - 2 * MIN, R + 30_000), (3 * R, 3 * R + 2 * MIN), (5 * R, 6 * R)):
        q = db.querier(mint, maxt)
        for ms in ([Matcher.parse("__name__", "=~", ".+")], [Matcher.equal("i", "3")]):
            flat = q.select(ms)
            assert flat.starts.shape[0] == len(flat.labels) + 1 and int(flat.starts[-1]) == len(flat.values)
            got = {
                lb: (flat.timestamps[a:b].tolist(), flat.values[a:b].tolist())
                for lb, a, b in zip(flat.labels, flat.starts[:-1].tolist(), flat.starts[1:].tolist(),
                                    strict=True)
            }
            want = {s.labels: (s.timestamps.tolist(), s.values.tolist()) for s in q.select(ms)}
            assert got == want, (mint, maxt, ms)
        q.close()


FORMAT1 = Path(__file__).parent / "data" / "block_format1"


def test_a_block_written_in_page_format_1_is_still_read_and_compacted(open_db: Open, tmp_path: Path) -> None:
    """``data/block_format1`` was written by the writer before page framing (``GPG1``
    pages: see ``make_block_format1.py``).  It is read bit for bit, a selector picking
    scattered rows of its pages included, and compacting it with a new block writes
    framed pages holding the same samples."""
    import json

    expected = json.loads((FORMAT1 / "expected.json").read_text())
    ulid = next(p.name for p in FORMAT1.iterdir() if p.is_dir())
    data = tmp_path / "data"
    shutil.copytree(FORMAT1 / ulid, data / ulid)
    assert (data / ulid / "chunks" / "000001").read_bytes()[:4] == b"GPG1"
    db = open_db(TSDBOptions(retention_ms=0, max_block_range_ms=3 * 7_200_000), path=data)
    assert [b.ulid for b in db.blocks] == [ulid] and not db.blocks[0].corrupt_pages
    want = {
        Labels(e["labels"]): list(zip(e["ts"], e["bits"], strict=True)) for e in expected
    }
    assert dump(db.querier(0, 2 * 10**12)) == want
    for picks in (["i01", "i04", "i09"], ["i05"], ["i02", "i03"]):
        got = db.querier(0, 2 * 10**12).select([Matcher.parse("instance", "=~", "|".join(picks))])
        assert {s.labels.get("instance") for s in got} == set(picks)
        for s in got:
            pairs = zip(s.timestamps.tolist(), s.values.view(np.uint64).tolist(), strict=True)
            assert list(pairs) == want[s.labels]
    # A new block beside it, then compaction of both into one framed block.
    t0 = db.blocks[0].mint
    app = db.appender()
    ref = app.ref(Labels.of(__name__="fixture_metric", job="new", instance="n0"))
    for k in range(3 * 480):
        app.append(ref, t0 + 7_200_000 + k * 15_000, float(k))
    app.commit()
    db.maintain()
    assert db.blocks and all(b.ulid != ulid for b in db.blocks)
    compacted = next(b for b in db.blocks if b.mint == t0)
    assert (compacted.path / "chunks" / "000001").read_bytes()[:4] == b"GPG2"
    got = dump(db.querier(0, t0 + 7_200_000 - 1))
    assert {k: v for k, v in got.items() if k.get("job") == "old"} == want


def test_bad_framing_in_a_block_page_names_the_block_file_and_page(
    open_db: Open, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A page whose checksum is right but whose frame table is not (a writer bug, not disk
    damage): reading it reports the block, its chunk file and the page, and serves the
    other pages; no sample of that page is made up."""
    from guardia.storage.tsdb.block import read_index_labels, write_index
    from guardia.storage.tsdb.chunks import _HEADER

    db = open_db(opts(block_page_rows=4))
    scrape(db, 12, 0, 2 * R)
    db.maintain()
    block = db.blocks[0]
    before = dump(db.querier(block.mint, block.maxt))
    db.close()
    chunks = block.path / "chunks" / "000001"
    data = bytearray(chunks.read_bytes())
    labels, pt = read_index_labels(block.path / "index")
    off, ln = int(pt[1, 0]), int(pt[1, 1])
    page = data[off : off + ln]
    *_, lc, lf, lt = _HEADER.unpack_from(page)
    table = off + _HEADER.size + lc + lf + lt
    first = int(np.frombuffer(bytes(data[table : table + 4]), dtype="<u4")[0])
    data[table : table + 4] = np.array([first + 1], dtype="<u4").tobytes()  # frame 0 one byte too long
    chunks.write_bytes(bytes(data))
    pages = [tuple(int(x) for x in row) for row in pt.tolist()]
    pages[1] = (*pages[1][:3], zlib.crc32(bytes(data[off : off + ln])), *pages[1][4:])
    write_index(block.path / "index", labels, pages)  # type: ignore[arg-type]
    db2 = open_db(opts(block_page_rows=4))
    b2 = next(b for b in db2.blocks if b.ulid == block.ulid)
    assert not b2.corrupt_pages  # the checksum is right: nothing to see until it is read
    got = dump(db2.querier(block.mint, block.maxt))
    assert "event=block_chunk_corrupt" in caplog.text
    line = next(r.getMessage() for r in caplog.records if "block_chunk_corrupt" in r.getMessage())
    assert f"block={block.ulid}" in line and f"file={chunks}" in line and "page=1 " in line
    assert "frame table covers 25 bytes of frames, the page holds 24" in line and "series=4..7" in line
    assert b2.corrupt_pages == {1}
    lost = {lb for lb in before if lb not in got}
    assert len(lost) == 4 and all(got[lb] == before[lb] for lb in got)
