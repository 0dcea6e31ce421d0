"""``guardia tsdb dump`` writes what ``promtool tsdb dump`` (Debian's 2.42) writes for the same
samples, line for line; native histograms (the head and the histogram range files alike) print
as Prometheus prints a histogram, and ``tsdb analyze`` counts them; bad flags are refused with
the reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardia.cli.main import app
from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.storage.tsdb import TSDB, TSDBOptions
from guardia.storage.tsdb.analyze import analyze

from .test_backfill import DATA, PROMTOOL

MORE = """# TYPE sizes gauge
sizes{unit="bytes",who="ünï ☃"} 1000000 10
sizes{unit="bytes",who="ünï ☃"} 123456789 20
sizes{unit="bytes",who="ünï ☃"} 0.0001 30
sizes{unit="bytes",who="ünï ☃"} 1.5e-05 40
sizes{unit="bytes",who="ünï ☃"} -2.5e+22 50
sizes{unit="bytes",who="tab\\there"} 42 60
# EOF
"""


def _promtool_dump(om: Path, work: Path, *flags: str) -> str:
    out = work / "promtool"
    if not out.exists():
        out.mkdir()
        subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om), str(out)],
                       check=True, capture_output=True)
        (out / "wal").mkdir()  # promtool's dump opens the directory as a store
    return subprocess.run([PROMTOOL, "tsdb", "dump", *flags, str(out)], check=True, capture_output=True,
                          text=True).stdout


def _guardia_dump(data: Path, *flags: str) -> str:
    res = CliRunner().invoke(app, ["tsdb", "dump", *flags, str(data)])
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.parametrize("flags", [(), ("--match", 'http_requests_total{code="500"}'),
                                   ("--min-time", "15000", "--max-time", "3600000")])
def test_the_dump_is_promtools_line_for_line(tmp_path: Path, flags: tuple[str, ...]) -> None:
    if shutil.which(PROMTOOL) is None:
        pytest.skip("promtool is not installed (scripts/system-packages.txt lists its package)")
    om = tmp_path / "in.om"
    om.write_text((DATA / "backfill_small.om").read_text().replace("# EOF\n", "") + MORE)
    want = _promtool_dump(om, tmp_path, *flags)
    res = CliRunner().invoke(app, ["tsdb", "create-blocks-from", "openmetrics", "-q", str(om),
                                   str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    got = _guardia_dump(tmp_path / "g", *flags)
    assert want.count("\n") >= (2 if flags else 15)  # something to compare
    assert got == want


def test_native_histograms_are_dumped_from_the_head_and_the_blocks(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "d", TSDBOptions(block_range_ms=1000))
    lb = Labels({"__name__": "rpc_seconds", "job": "a"})
    for k in range(1, 4):
        app_ = db.appender()
        app_.append_histogram(lb, k * 1000, FloatHistogram(schema=0, count=3.0 * k, sum=1.5 * k,
                                                           zero_threshold=0.001, zero_count=float(k),
                                                           positive={1: float(k), 2: float(k)}))
        app_.append(Labels({"__name__": "up", "job": "a"}), k * 1000, 1.0)
        app_.commit()
    db.maintain()  # the first second goes into a block, histograms and floats
    (blk,) = db.blocks
    assert blk.histograms is not None and blk.mint == 1000
    db.close()
    got = _guardia_dump(tmp_path / "d").splitlines()
    assert got == [
        *(f'{{__name__="rpc_seconds", job="a"}} {{count:{3 * k}, sum:{1.5 * k:g}, [-0.001,0.001]:{k}, '
          f"(1,2]:{k}, (2,4]:{k}}} {k * 1000}" for k in (1, 2, 3)),
        *(f'{{__name__="up", job="a"}} 1 {k * 1000}' for k in (1, 2, 3)),
    ]
    assert _guardia_dump(tmp_path / "d", "--match", "rpc_seconds", "--min-time", "2000").count("\n") == 2
    assert _guardia_dump(tmp_path / "d", "--match", "rpc_seconds", "--max-time", "1000").count("\n") == 1
    # analyze counts them where they are: the block's histogram part and the head
    ro = TSDB.open(tmp_path / "d", read_only=True)
    try:
        a = analyze(ro)
    finally:
        ro.close()
    ((f),) = a.histogram_parts
    assert (f.series, f.samples, f.bytes > 0, f.ulid) == (1, 1, True, blk.ulid)
    assert (a.head_histogram_series, a.head_histogram_samples, a.series) == (1, 2, 2)
    res = CliRunner().invoke(app, ["tsdb", "analyze", str(tmp_path / "d")])
    assert res.exit_code == 0 and "native histograms (in blocks)" in res.stdout
    assert "head: 1 native histogram series, 2 native histogram samples" in res.stdout
    assert f"and 1 native histogram samples in {f.bytes} bytes" in res.stdout
    (b,) = a.blocks  # the float part alone: its bytes leave the histogram pages out
    assert b.bytes == blk.size_bytes() - f.bytes and b.samples == 1


@pytest.mark.parametrize(("flags", "message"), [
    (["--match", "up{"], "--match 'up{'"),
    (["--match", '{job=~".*"}'], "--match"),
    (["--min-time", "5", "--max-time", "4"], "--min-time 5 is after --max-time 4"),
])
def test_bad_flags_are_refused_with_the_reason(tmp_path: Path, flags: list[str], message: str) -> None:
    (tmp_path / "d").mkdir()
    res = CliRunner().invoke(app, ["tsdb", "dump", *flags, str(tmp_path / "d")])
    assert res.exit_code == 1 and message in res.output


def test_a_missing_data_directory_is_reported(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["tsdb", "dump", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "no such data directory" in res.output
