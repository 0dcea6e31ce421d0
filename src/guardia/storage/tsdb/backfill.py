"""Backfill: an OpenMetrics file with timestamps → blocks, like ``promtool tsdb
create-blocks-from openmetrics``.

Every sample needs a timestamp (seconds, as OpenMetrics writes them; any value, epoch 0
included) and the file must end with ``# EOF``.  Lines are read in one pass: the first
line of each series is parsed completely by the exposition parser (``guardia.model.textparse``,
which gives line-numbered errors); later lines of a known series only split off their
value and timestamp, and those are converted to numbers in bulk.  Samples are then
sorted per series and written as one block per aligned ``block_range_ms`` window, series
in label order, through the same block writer the store uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model.textparse import ParseError, check_eof, parse_comment, parse_sample
from guardia.storage.tsdb.block import BlockWriter
from guardia.storage.tsdb.index import layout_key
from guardia.storage.tsdb.options import HOUR_MS

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class BackfillError(ValueError):
    """Bad input: ``path:line: reason`` and what to do about it."""


@dataclass(slots=True)
class ParsedFile:
    labels: list[Labels]
    sid: I64
    ts: I64
    vs: F64


@dataclass(slots=True)
class BackfillResult:
    blocks: list[str] = field(default_factory=list)
    series: int = 0
    samples: int = 0
    duplicates: int = 0
    bytes: int = 0


class _Fallback(Exception):
    """The fast path met something unusual; the line-by-line path decides (and explains)."""


def parse_openmetrics(path: Path, progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Parse the whole file; raises ``BackfillError`` naming the line on bad input."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BackfillError(f"{path}: not UTF-8 text (byte {e.start}); OpenMetrics files are UTF-8") from None
    body = data[:-1] if data.endswith(b"\n") else data
    if not (body == b"# EOF" or body.endswith(b"\n# EOF")):
        try:
            check_eof(text.split("\n"))
        except ParseError as e:
            raise BackfillError(
                f"{path}:{e.line}: {e.reason} (an OpenMetrics file must end with '# EOF')"
            ) from None
    for fast in (_parse_runs, _parse_fast):
        try:
            return fast(data, progress)
        except _Fallback:
            continue
    return _parse_slow(path, text.split("\n"), progress)


def _parse_runs(data: bytes, progress: Callable[[int], None] | None) -> ParsedFile:
    """Fastest path, for files where each series' samples are consecutive lines.

    Python touches each *run* of lines of one series once: the first line is parsed
    completely, numpy finds how far the run goes by comparing the next lines' first bytes
    with the series text, and blanks those series texts out so that what is left of the
    file — values and timestamps — is converted by one ``np.fromstring`` call.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    size = arr.shape[0]
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [size]))
    if starts[-1] >= size:
        starts, ends = starts[:-1], ends[:-1]
    nlines = starts.shape[0]
    out = arr.copy()
    ids: dict[bytes, int] = {}
    labels: list[Labels] = []
    line_sid = np.full(nlines, -1, dtype=np.int64)
    ar = np.arange(4096, dtype=np.int64)
    i, guess, runs, run_lines = 0, 64, 0, 0
    reported = 0
    while i < nlines:
        s, e = int(starts[i]), int(ends[i])
        if s == e:
            i += 1
            continue
        if arr[s] == 35:  # '#'
            line = data[s:e].decode()
            if line == "# EOF":
                out[s:e] = 32
                break
            try:
                parse_comment(line, i + 1, openmetrics=True)
            except ParseError:
                raise _Fallback from None
            out[s:e] = 32
            i += 1
            continue
        line = data[s:e].decode()
        try:
            smp = parse_sample(line, i + 1, openmetrics=True)
        except ParseError:
            raise _Fallback from None
        if smp.timestamp_ms is None or " # " in line:
            raise _Fallback
        key = line[: smp.series_end].encode() + b" "
        m = len(key)
        if m > ar.shape[0]:
            raise _Fallback
        sid = ids.get(key)
        if sid is None:
            sid = ids[key] = len(labels)
            labels.append(Labels((("__name__", smp.name), *smp.labels)))
        pattern = np.frombuffer(key, dtype=np.uint8)
        j = i + 1
        span = max(guess, 8)
        while j < nlines:
            blk = starts[j : j + span]
            long_enough = (ends[j : j + span] - blk) > m
            idx = np.minimum(blk[:, None] + ar[:m], size - 1)
            same = (arr[idx] == pattern).all(axis=1) & long_enough
            if same.all():
                j += same.shape[0]
                span *= 2
                continue
            j += int(np.argmin(same))
            break
        run = starts[i:j]
        out[(run[:, None] + ar[:m]).ravel()] = 32
        line_sid[i:j] = sid
        guess = j - i
        runs += 1
        run_lines += j - i
        if runs == 256 and run_lines < 8 * runs:
            raise _Fallback  # interleaved series: the line loop is faster
        i = j
        if progress is not None and i - reported >= 500_000:
            progress(i - reported)
            reported = i
    sample = line_sid >= 0
    n = int(sample.sum())
    try:
        nums = _bulk_floats_text(out.tobytes(), 2 * n)
    except ValueError:
        raise _Fallback from None
    parsed = _pairs_to_parsed(labels, line_sid[sample], nums)
    if progress is not None:
        progress(nlines - reported)
    return parsed


def _parse_fast(data: bytes, progress: Callable[[int], None] | None) -> ParsedFile:
    """Bulk path for well-formed files whose series' samples are mostly consecutive.

    A Python loop only recognises runs of lines of the same series (``startswith``); the
    first line of a run is parsed completely.  Values and timestamps are the tails of
    the lines: numpy cuts them out of the raw bytes and converts them in one call.
    Anything unusual (exemplars, missing timestamps, odd tokens) falls back to the
    line-by-line path, which names the offending line.
    """
    blines = data.split(b"\n")
    ids: dict[bytes, int] = {}
    labels: list[Labels] = []
    keylen: list[int] = []
    sid_of_line: list[int] = []
    prev = b"\x00"
    psid = -1
    step = 500_000
    for lineno, ln in enumerate(blines, 1):
        if ln.startswith(prev):
            sid_of_line.append(psid)
            continue
        if not ln or ln[0] == 35:  # empty or '#'
            sid_of_line.append(-1)
            if ln and ln != b"# EOF":
                try:
                    parse_comment(ln.decode(), lineno, openmetrics=True)
                except ParseError:
                    raise _Fallback from None
            prev = b"\x00"
            continue
        try:
            smp = parse_sample(ln.decode(), lineno, openmetrics=True)
        except ParseError:
            raise _Fallback from None
        key = ln.decode()[: smp.series_end].encode()
        if smp.timestamp_ms is None or b" # " in ln:
            raise _Fallback
        sid = ids.get(key)
        if sid is None:
            sid = ids[key] = len(labels)
            labels.append(Labels((("__name__", smp.name), *smp.labels)))
            keylen.append(len(key) + 1)
        sid_of_line.append(sid)
        prev = key + b" "
        psid = sid
        if progress is not None and lineno % step == 0:
            progress(step)
    line_sid = np.array(sid_of_line, dtype=np.int64)
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))[: line_sid.shape[0]]
    ends = np.concatenate((nl, [arr.shape[0]]))[: line_sid.shape[0]]
    is_sample = line_sid >= 0
    sids = line_sid[is_sample]
    tail_start = starts[is_sample] + np.array(keylen, dtype=np.int64)[sids]
    tail_end = ends[is_sample]
    if (tail_end < tail_start).any():
        raise _Fallback
    mark = np.zeros(arr.shape[0] + 1, dtype=np.int8)
    mark[tail_start] += 1  # line positions are distinct: plain fancy indexing is exact
    mark[tail_end] -= 1
    inside = np.cumsum(mark[:-1], dtype=np.int8).view(np.bool_)
    # Keep the tails; the byte after each tail (newline or end) becomes a separator.
    keep = inside.copy()
    sep_pos = tail_end[tail_end < arr.shape[0]]
    keep[sep_pos] = True
    tails = arr[keep].copy()
    tails[tails == 10] = 32
    try:
        nums = _bulk_floats_text(tails.tobytes().decode("ascii"), 2 * sids.shape[0])
    except (ValueError, UnicodeDecodeError):
        raise _Fallback from None
    parsed = _pairs_to_parsed(labels, sids, nums)
    if progress is not None:
        progress(len(blines) % step)
    return parsed


def _pairs_to_parsed(labels: list[Labels], sids: I64, nums: F64) -> ParsedFile:
    """Interleaved (value, timestamp in seconds) pairs as a ParsedFile; a timestamp that is
    not finite sends the file to the line-by-line parser, which reports it with its line."""
    tsf = nums[1::2]
    if not np.isfinite(tsf).all():
        raise _Fallback
    return ParsedFile(labels, sids, np.round(tsf * 1000).astype(np.int64), nums[0::2].copy())


def _bulk_floats_text(joined: str | bytes, expect: int) -> F64:
    if ("_" if isinstance(joined, str) else b"_") in joined:  # type: ignore[operator]
        raise ValueError("digit separators are not OpenMetrics")
    arr = np.fromstring(joined, dtype=np.float64, sep=" ")
    if arr.shape[0] != expect:
        raise ValueError("not plain float tokens")
    return arr


def _parse_slow(path: Path, lines: list[str], progress: Callable[[int], None] | None) -> ParsedFile:
    """Line by line with the exposition parser: exact messages for bad input."""
    cache: dict[str, int] = {}
    labels: list[Labels] = []
    sids: list[int] = []
    vs_l: list[float] = []
    ts_l: list[int] = []
    lineno = 0
    step = 200_000
    try:
        for lineno, line in enumerate(lines, 1):
            if not line:
                continue
            if line[0] == "#":
                c = parse_comment(line, lineno, openmetrics=True)
                if c.kind == "EOF":
                    break
                continue
            s = parse_sample(line, lineno, openmetrics=True)
            if s.timestamp_ms is None:
                raise ParseError(lineno, "sample has no timestamp; backfill needs one on every sample")
            key = line[: s.series_end]
            sid = cache.get(key)
            if sid is None:
                sid = cache[key] = len(labels)
                labels.append(Labels((("__name__", s.name), *s.labels)))
            sids.append(sid)
            vs_l.append(s.value)
            ts_l.append(s.timestamp_ms)
            if progress is not None and lineno % step == 0:
                progress(step)
    except ParseError as e:
        raise BackfillError(f"{path}:{e.line}: {e.reason}") from None
    if progress is not None:
        progress(lineno % step)
    return ParsedFile(
        labels,
        np.array(sids, dtype=np.int64),
        np.array(ts_l, dtype=np.int64),
        np.array(vs_l, dtype=np.float64),
    )


def write_blocks(
    parsed: ParsedFile,
    out: Path,
    block_range_ms: int = 2 * HOUR_MS,
    *,
    page_rows: int = 256,
    zstd_level: int = 9,
    progress: Callable[[int], None] | None = None,
) -> BackfillResult:
    """One block per aligned window with data; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    res = BackfillResult(series=len(parsed.labels))
    if not parsed.sid.size:
        return res
    keys = [layout_key(lb) for lb in parsed.labels]
    order_labels = sorted(range(len(parsed.labels)), key=keys.__getitem__)
    rank = np.empty(len(parsed.labels), dtype=np.int64)
    rank[np.array(order_labels, dtype=np.int64)] = np.arange(len(order_labels))
    r = rank[parsed.sid]
    win = np.floor_divide(parsed.ts, block_range_ms)
    order = np.lexsort((parsed.ts, r, win))
    r, ts, vs, win = r[order], parsed.ts[order], parsed.vs[order], win[order]
    # Same series and timestamp twice: keep the first (the file's order), count the rest.
    dup = np.zeros(r.shape[0], dtype=np.bool_)
    dup[1:] = (r[1:] == r[:-1]) & (ts[1:] == ts[:-1])
    if dup.any():
        res.duplicates = int(dup.sum())
        keep = ~dup
        r, ts, vs, win = r[keep], ts[keep], vs[keep], win[keep]
    sorted_labels = [parsed.labels[i] for i in order_labels]
    bounds = np.nonzero(np.diff(win))[0] + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [win.shape[0]]))
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        w = int(win[a])
        rr = r[a:b]
        present = np.unique(rr)
        counts = np.bincount(rr, minlength=len(sorted_labels))[present]
        writer = BlockWriter(
            out, w * block_range_ms, (w + 1) * block_range_ms, page_rows=page_rows, zstd_level=zstd_level
        )
        try:
            writer.add([sorted_labels[i] for i in present.tolist()], counts, ts[a:b], vs[a:b])
            path = writer.finish()
        except BaseException:
            writer.abort()
            raise
        if path is not None:
            res.blocks.append(path.name)
            res.bytes += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        res.samples += b - a
        if progress is not None:
            progress(b - a)
    return res
