"""`guardia tsdb ...`: tools for the embedded store's data directory.

Backfill from OpenMetrics (as ``promtool tsdb create-blocks-from openmetrics``), snapshot
and restore, and analyze.  Every command says what went wrong with the input (file and
line for bad OpenMetrics) and exits non-zero, so it can run in scripts.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from guardia.model import format_rfc3339, parse_duration
from guardia.model.durations import DurationError
from guardia.storage.tsdb import TSDB
from guardia.storage.tsdb.analyze import analyze
from guardia.storage.tsdb.backfill import BackfillError, parse_openmetrics, write_blocks
from guardia.storage.tsdb.block import is_block_dir
from guardia.storage.tsdb.db import StorageLockedError
from guardia.storage.tsdb.dump import dump_lines

HELP = (
    "Work with the data directory of guardia's embedded time-series store.\n\n"
    "The store keeps recent samples in memory (plus a write-ahead log in DATA_DIR/wal) and "
    "cuts them every 2 hours into immutable blocks (one directory each). These commands add "
    "blocks (backfill, restore), copy them (snapshot) and report what is inside (analyze, dump).\n\n"
    "Examples:\n\n"
    "guardia tsdb create-blocks-from openmetrics history.om ./data\n\n"
    "guardia tsdb snapshot ./data ./backup-2024-05-01\n\n"
    "guardia tsdb restore ./backup-2024-05-01 ./data\n\n"
    "guardia tsdb analyze ./data\n\n"
    "guardia tsdb dump --match 'up{job=\"node\"}' ./data\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)
create_app = typer.Typer(
    help="Create blocks from an input format (backfill old data).", no_args_is_help=True
)
app.add_typer(create_app, name="create-blocks-from")

err = Console(stderr=True)
out = Console()


def _fail(msg: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {msg}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@create_app.command("openmetrics")
def create_from_openmetrics(
    file: Path = typer.Argument(..., help="OpenMetrics text file; every sample needs a timestamp; "
                                "it must end with '# EOF'."),
    data_dir: Path = typer.Argument(Path("data"), help="Where to write the blocks (the store's data "
                                    "directory, or any directory to copy them from later)."),
    max_block_duration: str = typer.Option("2h", "--max-block-duration",
                                           help="Width of each block, aligned to multiples of it."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Backfill: turn an OpenMetrics file into blocks, as promtool does.

    Timestamps are in seconds (OpenMetrics), any value including 0 (1970). One block is
    written per aligned --max-block-duration window that has samples; blocks appear in
    DATA_DIR atomically. If a running guardia uses DATA_DIR, it picks the blocks up at
    its next restart, and overlapping data is merged by compaction.

    Example: guardia tsdb create-blocks-from openmetrics history.om ./data
    """
    if not file.is_file():
        raise _fail(f"{file}: no such file (give the OpenMetrics file to import)")
    try:
        width = parse_duration(max_block_duration)
    except DurationError as e:
        raise _fail(f"--max-block-duration: {e}") from None
    if width <= 0:
        raise _fail("--max-block-duration must be positive, e.g. 2h")
    t0 = time.perf_counter()
    size = file.stat().st_size
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=err, disable=quiet, transient=False,
    ) as prog:
        task = prog.add_task(f"reading {file.name}", total=max(1, size // 100))
        try:
            parsed = parse_openmetrics(file, progress=lambda n: prog.advance(task, n))
        except BackfillError as e:
            raise _fail(str(e)) from None
        prog.update(task, completed=max(1, size // 100))
        wtask = prog.add_task("writing blocks", total=max(1, int(parsed.sid.shape[0])))
        res = write_blocks(parsed, data_dir, width, progress=lambda n: prog.advance(wtask, n))
    dt = time.perf_counter() - t0
    bps = res.bytes / res.samples if res.samples else 0.0
    out.print(
        f"wrote {len(res.blocks)} block(s) to {data_dir}: {res.series} series, {res.samples} samples, "
        f"{res.bytes} bytes ({bps:.2f} bytes/sample) in {dt:.1f}s", highlight=False, soft_wrap=True,
    )
    if res.duplicates:
        out.print(f"note: {res.duplicates} sample(s) repeated a series and timestamp; the first was kept")
    for b in res.blocks:
        out.print(f"  {b}")


@app.command("snapshot")
def snapshot(
    data_dir: Path = typer.Argument(..., help="The store's data directory (may be in use)."),
    out_dir: Path = typer.Argument(..., help="Where to put the snapshot (created; must be empty)."),
    skip_head: bool = typer.Option(False, "--skip-head", help="Only the blocks, not the in-memory data."),
) -> None:
    """Copy the store's data as blocks into OUT_DIR, safely while guardia is running.

    Blocks are immutable and are hard-linked (no extra space on the same file system);
    the recent data of the write-ahead log is written as one more block. The result is a
    data directory of its own: restore it, or point guardia at it.
    """
    if not data_dir.is_dir():
        raise _fail(f"{data_dir}: no such data directory")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise _fail(f"{out_dir} is not empty; give a new directory for the snapshot")
    for attempt in range(3):
        try:
            db = TSDB.open(data_dir, read_only=True)
            try:
                names = db.snapshot(out_dir, with_head=not skip_head)
            finally:
                db.close()
            break
        except FileNotFoundError:
            # A block was compacted away while we linked it: start over.
            shutil.rmtree(out_dir, ignore_errors=True)
            if attempt == 2:
                raise _fail("the data directory kept changing during the snapshot; retry") from None
    out.print(f"snapshot of {data_dir} in {out_dir}: {len(names)} block(s)", highlight=False, soft_wrap=True)


@app.command("restore")
def restore(
    snapshot_dir: Path = typer.Argument(..., help="A snapshot made by 'guardia tsdb snapshot'."),
    data_dir: Path = typer.Argument(..., help="The data directory to restore into (guardia stopped)."),
) -> None:
    """Copy a snapshot's blocks into DATA_DIR (stop guardia first).

    Blocks already in DATA_DIR stay; where times overlap, compaction merges them at the
    next start, without duplicate samples.
    """
    if not snapshot_dir.is_dir():
        raise _fail(f"{snapshot_dir}: no such snapshot directory")
    blocks = [p for p in sorted(snapshot_dir.iterdir()) if is_block_dir(p)]
    if not blocks:
        raise _fail(f"{snapshot_dir} holds no blocks (a block is a directory with meta.json, index, chunks/)")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        db = TSDB.open(data_dir)  # takes the lock: refuses while guardia runs
    except StorageLockedError as e:
        raise _fail(f"{e}. Stop guardia, then restore.") from None
    db.close()
    copied = 0
    for b in blocks:
        dest = data_dir / b.name
        if dest.exists():
            continue
        tmp = data_dir / (b.name + ".tmp")
        shutil.copytree(b, tmp)
        tmp.rename(dest)
        copied += 1
    out.print(f"restored {copied} block(s) into {data_dir} ({len(blocks) - copied} already there)")


@app.command("analyze")
def analyze_cmd(
    data_dir: Path = typer.Argument(..., help="The store's data directory (may be in use)."),
    limit: int = typer.Option(10, "--limit", "-n", help="How many entries in each top list."),
) -> None:
    """Series, samples, bytes per sample and cardinality hot spots of a data directory.

    Look at the label names with the most values: a label holding ids (user, request,
    session) multiplies series and memory.
    """
    if not data_dir.is_dir():
        raise _fail(f"{data_dir}: no such data directory")
    db = TSDB.open(data_dir, read_only=True)
    try:
        a = analyze(db, limit)
    finally:
        db.close()
    t = Table(title="blocks")
    for c in ("block", "from", "to", "level", "series", "samples", "bytes", "bytes/sample"):
        t.add_column(c)
    for b in a.blocks:
        t.add_row(b.ulid, format_rfc3339(b.mint), format_rfc3339(b.maxt), str(b.level), str(b.series),
                  str(b.samples), str(b.bytes), f"{b.bytes_per_sample:.2f}")
    out.print(t)
    span = ""
    if a.head_mint is not None and a.head_maxt is not None:
        span = f" ({format_rfc3339(a.head_mint)} .. {format_rfc3339(a.head_maxt)})"
    out.print(f"head: {a.head_series} series, {a.head_samples} samples{span}",
              highlight=False, soft_wrap=True)
    if a.histogram_parts or a.head_histogram_samples:
        ht = Table(title="native histograms (in blocks)")
        for c in ("block", "from", "to", "series", "samples", "bytes", "bytes/sample"):
            ht.add_column(c)
        for f in a.histogram_parts:
            ht.add_row(f.ulid, format_rfc3339(f.mint), format_rfc3339(f.maxt), str(f.series), str(f.samples),
                       str(f.bytes), f"{f.bytes_per_sample:.2f}")
        out.print(ht)
        out.print(f"head: {a.head_histogram_series} native histogram series, {a.head_histogram_samples} "
                  "native histogram samples", highlight=False, soft_wrap=True)
    bps = a.block_bytes / a.block_samples if a.block_samples else 0.0
    out.print(f"total: {a.series} distinct series; blocks hold {a.block_samples} samples in "
              f"{a.block_bytes} bytes ({bps:.2f} bytes/sample)", highlight=False, soft_wrap=True)
    if a.histogram_parts:
        hs = sum(f.samples for f in a.histogram_parts)
        hb = sum(f.bytes for f in a.histogram_parts)
        out.print(f"and {hs} native histogram samples in {hb} bytes ({hb / hs if hs else 0.0:.2f} "
                  "bytes/histogram)", highlight=False, soft_wrap=True)
    for title, rows, what in (
        ("metric names with most series", a.top_metrics, "series"),
        ("label names with most values", a.top_label_names, "values"),
        ("label pairs with most series", a.top_label_pairs, "series"),
    ):
        tt = Table(title=title)
        tt.add_column("name")
        tt.add_column(what, justify="right")
        for name, n in rows:
            tt.add_row(name, str(n))
        out.print(tt)


@app.command("dump")
def dump_cmd(
    data_dir: Path = typer.Argument(Path("data"), help="The store's data directory (may be in use)."),
    match: str = typer.Option('{__name__=~".+"}', "--match",
                              help="Series selector (PromQL), e.g. 'up{job=\"node\"}'."),
    min_time: int = typer.Option(-(2**63), "--min-time", help="Earliest timestamp to dump (ms)."),
    max_time: int = typer.Option(2**63 - 1, "--max-time", help="Latest timestamp to dump (ms)."),
) -> None:
    """Print every sample, as promtool tsdb dump does: one line per sample, float or native
    histogram, series in label order (blocks, floats and native histograms, and the head).

    Example: guardia tsdb dump --match 'http_requests_total' --min-time 1700000000000 ./data
    """
    from guardia.web.envelope import ApiError
    from guardia.web.params import parse_selector

    if not data_dir.is_dir():
        raise _fail(f"{data_dir}: no such data directory")
    try:
        matchers = parse_selector(match)
    except ApiError as e:
        why = e.message.removeprefix('invalid parameter "match[]": ')
        raise _fail(f"--match {match!r}: {why}") from None
    if min_time > max_time:
        raise _fail(f"--min-time {min_time} is after --max-time {max_time}")
    db = TSDB.open(data_dir, read_only=True)
    try:
        for line in dump_lines(db, matchers, min_time, max_time):
            print(line)
    finally:
        db.close()
