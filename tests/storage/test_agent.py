"""The agent's store logs and forgets: refs survive a restart, reads find nothing, and the WAL
is truncated behind the slowest reader with the series kept in a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.agent import AgentLockedError, AgentStorage, series_key, split_series
from guardia.storage.interface import AppendError
from guardia.storage.remote.wal_watcher import Position, WALWatcher
from guardia.storage.tsdb import wal

T0 = 1_700_000_000_000


def _scrape(st: AgentStorage, t: int, n: int = 50) -> list[int]:
    app = st.appender()
    refs = [app.ref(Labels({"__name__": "m", "i": str(i)})) for i in range(n)]
    app.append_batch(np.array(refs), t, np.arange(n, dtype=np.float64))
    app.commit()
    return refs


def test_samples_go_to_the_wal_and_nowhere_else(tmp_path: Path) -> None:
    st = AgentStorage(tmp_path, segment_bytes=2048)
    refs = _scrape(st, T0)
    q = st.querier(0, T0 * 2)
    assert list(q.select([Matcher("__name__", MatchType.EQUAL, "m")])) == [] and q.label_names() == []
    with pytest.raises(AppendError, match="unknown series ref"):
        st.appender().append_batch(np.array([10_000]), T0, np.array([1.0]))
    w = WALWatcher(st.waldir, Position(0, 0))
    got = w.read(1000)
    assert got.size == 50 and w.labels[refs[3]] == Labels({"__name__": "m", "i": "3"})
    with pytest.raises(AgentLockedError):
        AgentStorage(tmp_path)
    st.close()
    again = AgentStorage(tmp_path)
    assert _scrape(again, T0 + 1000) == refs  # the same refs after a restart
    again.close()


def test_truncation_keeps_what_the_slowest_reader_still_needs(tmp_path: Path) -> None:
    st = AgentStorage(tmp_path, segment_bytes=1024)
    for k in range(10):
        _scrape(st, T0 + k * 1000)
    segs = wal.list_segments(st.waldir)
    assert len(segs) > 3
    assert st.truncate(segs[2]) == 2  # a reader is in segment segs[2]
    assert wal.list_segments(st.waldir)[0] == segs[2]
    late = WALWatcher(st.waldir, Position(segs[2], 0))  # learns the series from the checkpoint
    got = late.read(100_000)
    assert got.size and all(late.labels[int(r)] is not None for r in got.refs)
    assert st.truncate(None, keep_segments=1) >= 1  # nobody reads: keep the newest only
    assert len(wal.list_segments(st.waldir)) == 1
    st.close()


def test_series_keys_are_the_wal_encoding_and_survive_a_checkpoint(tmp_path: Path) -> None:
    """The agent keeps each label set as its WAL bytes; what it logs and checkpoints from them
    must decode to the same labels as the WAL's own encoder writes (UTF-8 included)."""
    lsets = [Labels({"__name__": "m", "i": str(i), "ü": "ñ" * i}) for i in range(5)]
    lsets.append(Labels({"__name__": "x"}))
    payload = wal.encode_series(list(enumerate(lsets)))
    assert split_series(payload) == [(i, series_key(ls)) for i, ls in enumerate(lsets)]
    assert [wal.decode_series_key(k) for _, k in split_series(payload)] == lsets  # what readers decode
    st = AgentStorage(tmp_path, segment_bytes=512)
    app = st.appender()
    refs = [app.ref(ls) for ls in lsets]
    assert refs == list(range(6)) and app.ref(Labels({"i": "0", "__name__": "m", "ü": ""})) == 0
    for k in range(20):
        app = st.appender()
        app.append_batch(np.array(refs), T0 + k, np.ones(6))
        app.commit()
    segs = wal.list_segments(st.waldir)
    assert st.truncate(segs[-1]) > 0
    st.close()
    (cp,) = [p for p in st.waldir.iterdir() if p.name.startswith("checkpoint.")]
    got = [s for f in sorted(cp.iterdir()) for rtype, payload in wal.read_records(f)[0]
           if rtype == wal.REC_SERIES for s in wal.decode_series(payload)]
    assert got == list(enumerate(lsets))
    again = AgentStorage(tmp_path)  # refs from the checkpoint and the newest segment
    assert [again.appender().ref(ls) for ls in lsets] == refs and again.num_series == 6
    again.close()


def test_checkpoints_copy_the_series_records_and_skip_the_samples(tmp_path: Path) -> None:
    """The index keeps 16-byte digests, not labels: each checkpoint is the previous one's
    series plus those of the segments it replaces, in ref order, with no sample record; series
    first logged in later segments are added by the next checkpoint, and a restart resolves
    every label set to its ref again."""
    st = AgentStorage(tmp_path, segment_bytes=600)
    made: list[Labels] = []
    for k in range(30):
        app = st.appender()
        new = [Labels({"__name__": "m", "k": str(k), "j": str(j)}) for j in range(3)]
        made += new
        refs = [app.ref(ls) for ls in made]
        app.append_batch(np.array(refs), T0 + k, np.ones(len(refs)))
        app.commit()
        if k in (9, 19):
            assert st.truncate(wal.list_segments(st.waldir)[-1]) > 0
    assert len(st._refs) == len(made) and len(st._refs._digests) == 16 * len(made)
    (cp,) = [p for p in st.waldir.iterdir() if p.name.startswith("checkpoint.")]
    records = [r for f in sorted(cp.iterdir()) for r in wal.read_records(f)[0]]
    assert {rtype for rtype, _ in records} == {wal.REC_SERIES}
    got = [s for _, payload in records for s in wal.decode_series(payload)]
    assert got == list(enumerate(made[: len(got)])) and len(got) > 30  # more than the first one held
    st.close()
    again = AgentStorage(tmp_path)
    assert [again.appender().ref(ls) for ls in made] == list(range(len(made))) and again.num_series == 90
    late = WALWatcher(again.waldir, Position(wal.list_segments(again.waldir)[0], 0))
    assert late.read(100_000).size and all(late.labels[r] == made[r] for r in range(len(made)))
    again.close()
