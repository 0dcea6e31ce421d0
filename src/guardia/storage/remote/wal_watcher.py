"""Follow the store's write-ahead log as it grows: the source of remote write out.

Remote write sends what was committed, in commit order, from the WAL rather than from a
queue in memory, as Prometheus's ``wlog.Watcher`` does: a sender that falls behind (a receiver
down for an hour, a restart of guardia) picks up where its saved ``Position`` says, and nothing
committed since is lost while the WAL still holds it.  A checkpoint keeps the segments the
slowest sender has not read (``TSDB._wal_keep_from``, up to ``--storage.remote.wal-keep-size``);
samples in segments deleted before a sender read them are gone, and the watcher says so.

Series records map the WAL's dense series refs to label sets; they are learned from the
checkpoint and every segment before the start position (samples there are skipped), then as
they come.  Samples are returned as flat Python arrays per read (refs ``i``, timestamps ``q``,
values ``d``, as the WAL stores them: no numpy, so an agent never imports it); one record is
one commit.
A record still being written (its frame longer than the file so far) ends a read; the next
read starts there.

Native histogram records (``REC_HISTOGRAMS``) are self-contained (label set, timestamp,
histogram, see ``tsdb.histograms``): when the sender sends them (``send_native_histograms``)
they are decoded into ``WALRead.histograms``; otherwise they are passed over, as Prometheus's
watcher passes them over.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from guardia.model import Labels
from guardia.storage.tsdb import wal

if TYPE_CHECKING:  # histogram records are decoded by ``tsdb.histograms``, imported on the first one
    from guardia.storage.exemplars import Exemplar
    from guardia.storage.tsdb.histograms import Sample as HistogramSample

log = logging.getLogger("guardia.storage.remote")

_FRAME = struct.Struct("<BII")
READ_BYTES = 8 * 1024 * 1024
LABEL_CACHE_MAX = 200_000  # label sets of histogram records kept decoded (cleared beyond)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where the next read starts: a segment number and a byte offset in it."""

    segment: int
    offset: int


@dataclass(slots=True)
class WALRead:
    """Samples of the records read, in WAL order, and where the read ended."""

    refs: array[int]  # typecode "i"
    timestamps: array[int]  # "q"
    values: array[float]  # "d"
    end: Position
    lost_segments: int = 0  # segments deleted before they were read (beyond the WAL's retention)
    histograms: list[HistogramSample] = field(default_factory=list)
    # exemplars stored since the previous read (``send_exemplars``: from the exemplar store,
    # not the WAL; the queue adds them to the read)
    exemplars: list[tuple[Labels, Exemplar]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Float samples read."""
        return len(self.refs)

    @property
    def total(self) -> int:
        """Float and histogram samples and exemplars read."""
        return len(self.refs) + len(self.histograms) + len(self.exemplars)


class SeriesLabels:
    """Each series ref's label set, kept as its WAL encoding (``wal.split_series``) and decoded
    when asked for.

    A sender asks for each series once: its queue relabels and encodes it, then lets it go
    (``labels[ref] = None``).  Decoding every series record as it is read held all the label
    sets as Python strings at once, about 12 MiB at 20,000 series on a sender's first read;
    freed right after, they left the allocator's arenas fragmented around what stays (the
    encoded series), which an agent kept resident.  The WAL bytes are a third of that."""

    __slots__ = ("_raw",)

    def __init__(self) -> None:
        self._raw: list[bytes | None] = []

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, ref: int) -> Labels | None:
        raw = self._raw[ref]
        return None if raw is None else wal.decode_series_key(raw)

    def __setitem__(self, ref: int, value: None) -> None:
        """Only to forget a series (its sender has what it needs of it)."""
        self._raw[ref] = value

    def put(self, ref: int, key: bytes) -> None:
        raw = self._raw
        if ref >= len(raw):
            raw.extend([None] * (ref + 1 - len(raw)))
        raw[ref] = key

    def drop(self, dead: set[int]) -> None:
        """The store's series GC: ``dead`` refs go, the others are renumbered in order."""
        self._raw = [r for i, r in enumerate(self._raw) if i not in dead]


class WALWatcher:
    """Reads samples and series from ``waldir`` from a position on; not thread-safe (one reader)."""

    def __init__(self, waldir: Path, start: Position | None, send_histograms: bool = False) -> None:
        self.dir = waldir
        self.send_histograms = send_histograms
        self._hist_labels: dict[bytes, Labels] = {}
        self.labels = SeriesLabels()
        # refs the reader has no more use for (its queue resolved them once: relabeled and
        # encoded); their labels are not kept, which is most of a long-running reader's memory
        self.settled: Callable[[int], bool] | None = None
        self.current_segment = 0
        self._checkpoint_seen = -1
        self._seen_size = 0  # the current segment's size when last looked at
        self.pos = self._initial_position(start)
        self._learn_series_before(self.pos)

    # -- series ------------------------------------------------------------------------------

    def _add_series(self, payload: bytes) -> None:
        labels = self.labels
        settled = self.settled
        for ref, key in wal.split_series(payload):
            if settled is not None and settled(ref):
                continue
            labels.put(ref, key)

    def _apply_gc(self, payload: bytes) -> None:
        """The store's series GC: dropped refs are let go, the others renumbered as the head
        renumbered them (records after this one use the new numbers)."""
        self.labels.drop(set(wal.decode_gc_arrays(payload)))

    def _learn_checkpoint(self) -> None:
        cp = wal.last_checkpoint(self.dir)
        if cp is None or cp[0] <= self._checkpoint_seen:
            return
        self._checkpoint_seen = cp[0]
        for f in sorted(cp[1].iterdir()):
            try:
                recs, _ = wal.read_records(f)
            except FileNotFoundError:  # replaced by a newer checkpoint while we read it
                return self._learn_checkpoint()
            for rtype, payload in recs:
                if rtype == wal.REC_SERIES:
                    self._add_series(payload)

    def _learn_series_before(self, pos: Position) -> None:
        """The series (and their numbering) as they are at ``pos``: the checkpoint, then the
        series and GC records of the segments after it up to ``pos``.  A sender resuming in
        segments the checkpoint already covers, across a series GC, cannot know the numbering
        there: it resumes after the checkpoint instead (logged), rather than mislabel."""
        self._learn_checkpoint()
        cp = wal.last_checkpoint(self.dir)
        upto = cp[0] if cp is not None else -1
        if pos.segment <= upto:
            if self._gc_between(pos, upto):
                log.warning("event=remote_wal_resume_skipped from_segment=%d resume_segment=%d reason=%r",
                            pos.segment, upto + 1, "a series garbage collection renumbered the series "
                            "since this position and the checkpoint no longer tells the old numbers")
                self.pos = Position(upto + 1, 0)
            return
        for seg in wal.list_segments(self.dir):
            if seg <= upto:
                continue
            if seg > pos.segment:
                break
            limit = pos.offset if seg == pos.segment else None
            offset = 0
            while limit is None or offset < limit:  # in reads of READ_BYTES, not whole segments
                recs, after, bad = self._records(seg, offset, limit, READ_BYTES, series_only=True)
                for rtype, payload in recs:
                    if rtype == wal.REC_SERIES:
                        self._add_series(payload)
                    elif rtype == wal.REC_GC:
                        self._apply_gc(payload)
                if after == offset or bad:
                    break
                offset = after

    def _gc_between(self, pos: Position, upto: int) -> bool:
        for seg in wal.list_segments(self.dir):
            if pos.segment <= seg <= upto:
                offset = pos.offset if seg == pos.segment else 0
                while True:
                    recs, after, bad = self._records(seg, offset, None, READ_BYTES, series_only=True)
                    if any(rtype == wal.REC_GC for rtype, _ in recs):
                        return True
                    if after == offset or bad:
                        break
                    offset = after
        return False

    # -- positions ---------------------------------------------------------------------------

    def _initial_position(self, start: Position | None) -> Position:
        segs = wal.list_segments(self.dir)
        if start is None:  # a new sender starts at the end, as Prometheus's does
            if not segs:
                return Position(0, 0)
            last = segs[-1]
            return Position(last, _size(self.dir / wal.segment_name(last)))
        return start

    def tail_position(self) -> Position:
        """The end of the WAL now (where a new sender would start)."""
        return self._initial_position(None)

    # -- reading -----------------------------------------------------------------------------

    def _records(self, seg: int, offset: int, limit: int | None, max_bytes: int | None = None,
                 series_only: bool = False) -> tuple[list[tuple[int, bytes]], int, bool]:
        """Complete, intact records of segment ``seg`` from ``offset`` (to ``limit`` bytes, or
        about ``max_bytes`` of them); returns them, the offset after the last one and whether
        a damaged record stopped the read."""
        path = self.dir / wal.segment_name(seg)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                want = -1 if limit is None else max(0, limit - offset)
                if max_bytes is not None and (want < 0 or want > max_bytes):
                    want = max_bytes
                data = fh.read(want)
                if max_bytes is not None and len(data) >= _FRAME.size:
                    # a record larger than one read: read it whole
                    _, length, _ = _FRAME.unpack_from(data, 0)
                    if _FRAME.size + length > len(data):
                        data += fh.read(_FRAME.size + length - len(data))
        except FileNotFoundError:
            return [], offset, False
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(data)
        while end - pos >= _FRAME.size:
            rtype, length, crc = _FRAME.unpack_from(data, pos)
            body = pos + _FRAME.size
            if body + length > end:
                break  # still being written, or beyond this read
            if series_only and rtype not in (wal.REC_SERIES, wal.REC_GC):
                pos = body + length  # samples before the start position are not sent
                continue
            payload = data[body : body + length]
            if zlib.crc32(payload) != crc:
                log.warning("event=remote_wal_corrupt segment=%d offset=%d action=skip_rest_of_segment",
                            seg, offset + pos)
                return out, offset + pos, True
            out.append((rtype, payload))
            pos = body + length
        return out, offset + pos, False

    def read(self, max_samples: int) -> WALRead:
        """Up to about ``max_samples`` samples from the current position (whole records)."""
        refs: array[int] = array("i")
        tss: array[int] = array("q")
        vss: array[float] = array("d")
        hists: list[HistogramSample] = []
        n = 0
        lost = 0
        while n < max_samples:
            segs = wal.list_segments(self.dir)
            if not segs:
                break
            if self.pos.segment not in segs:
                later = [s for s in segs if s > self.pos.segment]
                if not later:
                    break
                # a checkpoint deleted segments: lost if this sender had not read them whole
                # (the current one's size is known from the last look; skipped ones are lost)
                gone = later[0] - self.pos.segment - 1 + (self.pos.offset < self._seen_size)
                if gone:
                    lost += gone
                    log.warning("event=remote_wal_segments_lost from_segment=%d resume_segment=%d "
                                "reason=%r", self.pos.segment, later[0],
                                "the WAL was checkpointed before these samples were sent")
                self._learn_checkpoint()
                self.pos = Position(later[0], 0)
                self._seen_size = 0
                continue
            self.current_segment = self.pos.segment
            self._seen_size = _size(self.dir / wal.segment_name(self.pos.segment))
            recs, after, corrupt = self._records(self.pos.segment, self.pos.offset, None, READ_BYTES)
            at = self.pos.offset
            stop = False
            for rtype, payload in recs:
                if rtype == wal.REC_GC:
                    if refs:
                        # samples read so far use the old numbering: hand them out first
                        stop = True
                        break
                    self._apply_gc(payload)
                at += _FRAME.size + len(payload)
                if rtype == wal.REC_SERIES:
                    self._add_series(payload)
                elif rtype == wal.REC_SAMPLES_T:
                    r, t, v = wal.decode_samples_t_arrays(payload)
                    refs += r
                    tss += array("q", [t]) * len(r)
                    vss += v
                    n += len(r)
                elif rtype in (wal.REC_SAMPLES, wal.REC_OOO_LATE):  # late samples are sent too
                    r, ts, v = wal.decode_samples_arrays(payload)
                    refs += r
                    tss += ts
                    vss += v
                    n += len(r)
                elif rtype in (wal.REC_HISTOGRAMS, wal.REC_HISTOGRAMS_LATE) and self.send_histograms:
                    got = self._decode_histograms(payload)
                    hists += got
                    n += len(got)
            self.pos = Position(self.pos.segment, at if stop else after)
            if stop:
                break
            if recs and not corrupt:
                continue
            # nothing more in this segment for now: move on once a later segment exists
            later = [s for s in segs if s > self.pos.segment]
            if not later:
                break
            if not corrupt and self._records(self.pos.segment, self.pos.offset, None, _FRAME.size + 1)[0]:
                continue  # written before the writer rotated: read it first
            self.pos = Position(later[0], 0)
        return WALRead(refs, tss, vss, self.pos, lost, hists)

    def _decode_histograms(self, payload: bytes) -> list[HistogramSample]:
        """One histogram record's samples; a damaged one is skipped with a warning (its frame's
        checksum held, so the damage is in what was written, and nothing later depends on it)."""
        from guardia.storage.tsdb.histograms import HistogramDecodeError
        from guardia.storage.tsdb.histograms import decode_samples as decode_histograms

        if len(self._hist_labels) > LABEL_CACHE_MAX:
            self._hist_labels.clear()
        try:
            return decode_histograms(payload, self._hist_labels)
        except HistogramDecodeError as e:
            log.warning("event=remote_wal_corrupt where=histogram_record segment=%d error=%r action=skipped",
                        self.pos.segment, str(e))
            return []


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
