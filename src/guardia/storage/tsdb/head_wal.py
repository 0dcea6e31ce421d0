"""The head's side of the WAL: replaying it into the head, and what a checkpoint of the head
writes (Prometheus's head_wal.go).  Record formats and segment files are ``wal``'s."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from guardia.storage.interface import AppendStats
from guardia.storage.tsdb import wal
from guardia.storage.tsdb.chunks import row_starts
from guardia.storage.tsdb.head_append import HeadAppend
from guardia.storage.tsdb.head_layout import F64, I64, Page, Span
from guardia.storage.tsdb.head_truncate import HeadTruncate

log = logging.getLogger("guardia.storage.tsdb")

Frame = tuple[int, int, int, I64, bytes]  # span number, start, end, refs, blob


@dataclass(slots=True)
class ReplayReport:
    records: int = 0
    samples: int = 0
    corruptions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    series_dropped: int = 0


class HeadWAL(HeadAppend, HeadTruncate):
    """Replay and checkpoints.

    Replay runs the same append logic as live commits, so samples rejected once are
    rejected again and the head comes back exactly as it was.
    """

    # Where replay hands native histogram records (the record type, the payload).
    histogram_sink: Callable[[int, bytes], None] | None = None

    def replay(self, waldir: Path, *, repair: bool, on_corruption: Callable[[str], None]) -> ReplayReport:
        """Load every record of the WAL in ``waldir``; a damaged record ends its segment
        (``repair`` truncates it there) and is reported to ``on_corruption``."""
        t0 = time.perf_counter()
        rep = ReplayReport()
        stats = AppendStats()
        frame_samples = 0
        frames: list[Frame] = []
        for rec in wal.replay_records(waldir, repair=repair):
            if frames and (isinstance(rec, wal.Corruption) or rec[0] != wal.REC_PAGE):
                frame_samples += self._load_frames(frames)
                frames = []
            if isinstance(rec, wal.Corruption):
                msg = f"{rec.segment}: offset {rec.offset}: {rec.reason}"
                rep.corruptions.append(msg)
                on_corruption(msg)
                continue
            rtype, payload = rec
            rep.records += 1
            if rtype == wal.REC_SERIES:
                for ref, labels in wal.decode_series(payload):
                    if ref < self.num_series:
                        continue
                    if ref > self.num_series:
                        log.warning("event=wal_series_gap ref=%d expected=%d", ref, self.num_series)
                        continue
                    self.ref_for(labels)
            elif rtype == wal.REC_SAMPLES_T:
                refs, t, vs = wal.decode_samples_t(payload)
                self._replay_samples(refs, t, vs, stats)
            elif rtype == wal.REC_SAMPLES:
                refs, ts, vs = wal.decode_samples(payload)
                self._replay_samples(refs, ts, vs, stats)
            elif rtype == wal.REC_PAGE:
                frames.append(wal.decode_page_record(payload))
            elif rtype == wal.REC_OOO_LATE:
                refs, ts, vs = wal.decode_samples(payload)
                ok = refs < self.num_series
                self.append_late(refs[ok], ts[ok], vs[ok], stats)
            elif rtype == wal.REC_OOO:
                refs, ts, vs = wal.decode_samples(payload)
                ok = refs < self.num_series
                self.load_ooo(refs[ok], ts[ok], vs[ok])
            elif rtype == wal.REC_STATE:
                self.min_valid_t = max(self.min_valid_t, wal.decode_state(payload))
            elif rtype in (wal.REC_HISTOGRAMS, wal.REC_HISTOGRAMS_LATE):
                if self.histogram_sink is not None:
                    self.histogram_sink(rtype, payload)
            elif rtype == wal.REC_GC:
                # the same drop and renumbering as the live head did, at the same point of
                # the log: later records use the new numbers, and dropped series stay dropped
                dead = wal.decode_gc(payload)
                dead = dead[dead < self.num_series]
                if dead.size:
                    self.drop_series(dead)
                    rep.series_dropped += int(dead.size)
        if frames:
            frame_samples += self._load_frames(frames)
        rep.samples = stats.appended + frame_samples
        rep.seconds = time.perf_counter() - t0
        return rep

    def _load_frames(self, frames: list[Frame]) -> int:
        """Adopt a checkpoint's spans; returns how many samples they hold."""
        n = self.num_series
        before = len(self.spans)
        by_span: dict[int, list[Frame]] = {}
        for f in frames:
            by_span.setdefault(f[0], []).append(f)
        for _, fs in sorted(by_span.items()):
            ok = [(refs, blob) for _, _, _, refs, blob in fs if refs.size and int(refs.max()) < n]
            self.load_span(fs[0][1], fs[0][2], ok)
        return sum(sp.nsamples for sp in self.spans[before:])

    def _replay_samples(self, refs: I64, t: int | I64, vs: F64, stats: AppendStats) -> None:
        n = self.num_series
        if refs.size and int(refs.max()) >= n:
            ok = refs < n
            refs, vs = refs[ok], vs[ok]
            if not isinstance(t, int):
                t = t[ok]
        self.append(refs, t, vs, stats)

    def checkpoint_records(self) -> Iterator[bytes]:
        """The head as WAL records: state, every series, compressed spans as they are, then
        the samples still in window buffers and out-of-order buffers."""
        yield wal.frame(wal.REC_STATE, wal.encode_state(self.min_valid_t))
        n = self.num_series
        for lo in range(0, n, 10_000):
            ids = np.arange(lo, min(lo + 10_000, n), dtype=np.int64)
            items = list(zip(ids.tolist(), self.index.labels_of(ids), strict=True))
            yield wal.frame(wal.REC_SERIES, wal.encode_series(items))
        for span, start, end, refs, blob in self.export_frames():
            yield wal.frame(wal.REC_PAGE, wal.encode_page_record(span, start, end, refs, blob))
        refs, ts, vs = self.export_samples()
        if refs.size:
            yield wal.frame(wal.REC_SAMPLES, wal.encode_samples(refs, ts, vs))
        refs, ts, vs = self.ooo_samples()
        if refs.size:
            yield wal.frame(wal.REC_OOO, wal.encode_samples(refs, ts, vs))

    def export_frames(self) -> Iterator[tuple[int, int, int, I64, bytes]]:
        """(span number, start, end, refs, blob) of every compressed frame."""
        for i, sp in enumerate(self.spans):
            for f in sp.frames:
                yield i, sp.start, sp.end, f.refs(), f.blob

    def export_samples(self) -> tuple[I64, I64, F64]:
        """Every sample not in a span (window buffers and spills) as flat arrays."""
        rs: list[I64] = []
        tss: list[I64] = []
        vss: list[F64] = []
        n = self.num_series
        q = np.arange(n, dtype=np.int64)
        for wid in sorted(self.windows):
            w = self.windows[wid]
            for p in w.spills:
                counts, ts, vs = p.decode()
                rs.append(np.repeat(p.refs(), counts))
                tss.append(ts)
                vss.append(vs)
            c = w.n[:n].astype(np.int64)
            has = np.nonzero(c)[0]
            if has.size:
                f = self._buffer_fragment(w, q[has], has.astype(np.int64))
                rs.append(np.repeat(q[has], f.counts))
                tss.append(f.ts)
                vss.append(f.vs)
        if not rs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        return np.concatenate(rs), np.concatenate(tss), np.concatenate(vss)

    def load_span(self, start: int, end: int, frames: list[tuple[I64, bytes]]) -> None:
        """Adopt a span written by a checkpoint (its series exist already)."""
        frame_of: npt.NDArray[np.int16] | npt.NDArray[np.int32] = (
            np.full(self.num_series, -1, dtype=np.int16)
            if len(frames) < 2**15
            else np.full(self.num_series, -1, dtype=np.int32)
        )
        pages: list[Page] = []
        for refs, blob in frames:
            p = Page.from_blob(refs, blob)
            counts, ts, vs = p.decode()
            starts = row_starts(counts.astype(np.int32))
            ends = starts + counts - 1
            last = ts[ends]
            newer = last > self.last_t[refs]
            self.last_t[refs[newer]] = last[newer]
            self.last_bits[refs[newer]] = vs[ends][newer].view(np.uint64)
            self.first_t[refs] = np.minimum(self.first_t[refs], ts[starts])
            frame_of[refs] = len(pages)
            pages.append(p)
        if pages:
            sp = Span(start, end, pages, frame_of, min(p.mint for p in pages), max(p.maxt for p in pages))
            self.spans.append(sp)
            self.mint = min(self.mint, sp.mint)
            self.maxt = max(self.maxt, sp.maxt)

    def load_ooo(self, refs: I64, ts: I64, vs: F64) -> None:
        for r, t, v in zip(refs.tolist(), ts.tolist(), vs.tolist(), strict=True):
            self.ooo.setdefault(r, {})[t] = v
            if t < self.first_t[r]:
                self.first_t[r] = t
            self.mint = min(self.mint, t)

    def ooo_samples(self) -> tuple[I64, I64, F64]:
        r: list[int] = []
        t: list[int] = []
        v: list[float] = []
        for ref, buf in self.ooo.items():
            for tt, vv in buf.items():
                r.append(ref)
                t.append(tt)
                v.append(vv)
        return (np.array(r, dtype=np.int64), np.array(t, dtype=np.int64), np.array(v, dtype=np.float64))
