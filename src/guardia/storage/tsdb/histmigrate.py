"""Native histogram range files of older data directories, turned into blocks at start-up.

Before native histograms went into blocks, a head cut moved them into immutable range
files beside the blocks: ``<data>/histograms/<start>-<end>.nh`` (``.<n>.nh`` for a second
file of a range), each the samples as one ``histograms.encode_samples`` record.  Opening such
a directory read-write turns each file into a block holding its samples (the block's
range is the file's, widened to whole block ranges; where a block of floats covers the
same time the two overlap and the next compaction merges them), then deletes the file.
The new block's ``meta.json`` names the file (``guardia.migratedFrom``), so a crash between
writing the block and deleting the file is repaired at the next start: a file a block
names is deleted, never migrated twice.  A read-only open (``guardia tsdb analyze``,
``dump``) reads the files into memory instead and changes nothing.

A file that does not decode is logged (``event=histogram_range_file_unreadable``) and
left where it is, renamed to ``*.nh.damaged`` so it is not tried at every start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.storage.tsdb.block import Block
from guardia.storage.tsdb.compact import write_block
from guardia.storage.tsdb.histblock import MemoryHistograms
from guardia.storage.tsdb.histograms import HistogramDecodeError, Sample, decode_samples, range_of
from guardia.storage.tsdb.histpages import Columns

log = logging.getLogger("guardia.storage.tsdb")

DIR = "histograms"


def _files(data: Path) -> list[Path]:
    d = data / DIR
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if range_of(p) is not None),
                  key=lambda p: (range_of(p), p.name))


def _read(path: Path) -> list[Sample] | None:
    try:
        return decode_samples(path.read_bytes())
    except (OSError, HistogramDecodeError) as e:
        log.error("event=histogram_range_file_unreadable file=%s error=%r action=renamed_to_damaged",
                  path, str(e))
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".damaged"))
        return None


def _by_series(samples: Sequence[Sample]) -> dict[Labels, Columns]:
    pts: dict[Labels, list[tuple[int, FloatHistogram]]] = {}
    for labels, t, h in samples:
        pts.setdefault(labels, []).append((t, h))
    out: dict[Labels, Columns] = {}
    for labels, ps in pts.items():
        ps.sort(key=lambda p: p[0])
        ts: list[int] = []
        hs: list[FloatHistogram] = []
        for t, h in ps:
            if ts and t == ts[-1]:
                continue
            ts.append(t)
            hs.append(h)
        out[labels] = (ts, hs)
    return out


def read_range_files(data: Path) -> list[Sample]:
    """Every sample of the range files, in time order (for a read-only open)."""
    out: list[Sample] = []
    for p in _files(data):
        try:
            out.extend(decode_samples(p.read_bytes()))
        except (OSError, HistogramDecodeError) as e:
            log.error("event=histogram_range_file_unreadable file=%s error=%r action=skipped", p, str(e))
    out.sort(key=lambda s: s[1])
    return out


def migrate_range_files(data: Path, blocks: Sequence[Block], block_range_ms: int,
                        zstd_level: int) -> list[Path]:
    """Turn each range file into a block (see the module docs); returns the new blocks."""
    files = _files(data)
    if not files:
        return []
    claimed = {name for b in blocks for name in b.meta.get("guardia", {}).get("migratedFrom", [])}
    made: list[Path] = []
    r = block_range_ms
    for p in files:
        if p.name in claimed:
            p.unlink(missing_ok=True)  # its block was written before a crash
            log.info("event=histogram_range_file_deleted file=%s reason=already_in_a_block", p.name)
            continue
        samples = _read(p)
        if samples is None:
            continue
        if samples:
            series = _by_series(samples)
            lo = min(ts[0] for ts, _ in series.values())
            hi = max(ts[-1] for ts, _ in series.values())
            mint, maxt_excl = lo // r * r, (hi // r + 1) * r
            path = write_block(data, [], mint, maxt_excl, zstd_level=zstd_level,
                               hist_sources=[MemoryHistograms(series)],
                               meta_extra={"migratedFrom": [p.name]})
            if path is not None:
                made.append(path)
                log.info("event=histogram_range_file_migrated file=%s block=%s series=%d samples=%d",
                         p.name, path.name, len(series), len(samples))
        p.unlink()
    d = data / DIR
    if not any(d.iterdir()):
        shutil.rmtree(d, ignore_errors=True)
    return made
