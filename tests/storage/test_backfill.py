"""Backfill from OpenMetrics: the same samples as promtool's blocks, clear errors otherwise."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardia.cli.main import app
from guardia.model import Labels
from guardia.model.matchers import parse_matchers
from guardia.storage.tsdb import TSDB

from .conftest import ALL

DATA = Path(__file__).with_name("data")
PROMTOOL = "/usr/bin/promtool"
Samples = dict[Labels, list[tuple[int, float]]]


def _norm(v: float) -> float | str:
    return "NaN" if math.isnan(v) else v


def promtool_samples(om: Path, work: Path) -> tuple[Samples, int]:
    out = work / "promtool"
    out.mkdir()
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om), str(out)],
                   check=True, capture_output=True)
    blocks = sum(1 for p in out.iterdir() if (p / "meta.json").exists())
    (out / "wal").mkdir()  # promtool's dump opens the directory as a store
    dump = subprocess.run([PROMTOOL, "tsdb", "dump", str(out)], check=True, capture_output=True, text=True)
    got: Samples = {}
    for line in dump.stdout.splitlines():
        series, _, rest = line.rpartition("} ")
        value, ts = rest.split(" ")
        labels = Labels((m.name, m.value) for m in parse_matchers(series + "}"))
        got.setdefault(labels, []).append((int(ts), float(value)))
    return got, blocks


def guardia_samples(data_dir: Path) -> Samples:
    db = TSDB.open(data_dir, read_only=True)
    try:
        return {
            s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
            for s in db.querier(-(2**62), 2**62).select(ALL)
        }
    finally:
        db.close()


def _comparable(s: Samples) -> dict[Labels, list[tuple[int, float | str]]]:
    return {k: [(t, _norm(v)) for t, v in vs] for k, vs in s.items()}


def test_backfill_matches_promtool_including_epoch_zero(tmp_path: Path) -> None:
    om = DATA / "backfill_small.om"
    expected, prom_blocks = promtool_samples(om, tmp_path)
    res = CliRunner().invoke(app, ["tsdb", "create-blocks-from", "openmetrics", "-q", str(om),
                                   str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    got = guardia_samples(tmp_path / "g")
    assert _comparable(got) == _comparable(expected)
    assert got[Labels.of(__name__="http_requests_total", code="200", path="/a b")][0] == (0, 1.0)
    blocks = [p for p in (tmp_path / "g").iterdir() if (p / "meta.json").exists()]
    assert len(blocks) == prom_blocks  # one per aligned 2h window with data, as promtool


def test_backfilled_blocks_are_served_by_a_store(tmp_path: Path) -> None:
    om = DATA / "backfill_small.om"
    res = CliRunner().invoke(app, ["tsdb", "create-blocks-from", "openmetrics", "-q", str(om),
                                   str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    db = TSDB.open(tmp_path / "d")
    try:
        series = db.querier(0, 10**8).select(parse_matchers('up'))
        assert series[0].values.tolist() == [1.0, 0.0]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('m{a="b"} 1 0\n', "must end with '# EOF'"),
        ('m{a="b"} 1 0\nm{a="b"} 2\n# EOF\n', ":2: sample has no timestamp"),
        ('m{a="b"} 1 0\nm{a="b"} x 1\n# EOF\n', ":2:"),
        ('m{a="b"} 1 0\nm{a="b"} 1 zz\n# EOF\n', ":2: invalid timestamp"),
        ('m{a="b} 1 0\n# EOF\n', ":1:"),
        ('# a free comment\nm 1 0\n# EOF\n', ":1: invalid comment"),
        ('m 1 0\n# EOF\nm 2 1\n', ":3: data does not end with # EOF"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "in.om"
    f.write_text(content)
    res = CliRunner().invoke(app, ["tsdb", "create-blocks-from", "openmetrics", "-q", str(f),
                                   str(tmp_path / "out")])
    assert res.exit_code == 1
    assert str(f) in res.output and message in res.output


def test_a_missing_input_file_is_reported(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "nope.om"),
                                   str(tmp_path / "out")])
    assert res.exit_code == 1 and "no such file" in res.output


def test_snapshot_restore_and_analyze_commands(tmp_path: Path) -> None:
    om = DATA / "backfill_small.om"
    runner = CliRunner()
    assert runner.invoke(app, ["tsdb", "create-blocks-from", "openmetrics", "-q", str(om),
                               str(tmp_path / "d")]).exit_code == 0
    db = TSDB.open(tmp_path / "d")
    app_ = db.appender()
    app_.append(Labels.of(__name__="fresh"), 10**9, 5.0)
    app_.commit()
    # Snapshot while the store is open (as while serving): blocks plus the head.
    res = runner.invoke(app, ["tsdb", "snapshot", str(tmp_path / "d"), str(tmp_path / "snap")])
    assert res.exit_code == 0, res.output
    db.close()
    res = runner.invoke(app, ["tsdb", "restore", str(tmp_path / "snap"), str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert guardia_samples(tmp_path / "r") == guardia_samples(tmp_path / "d") or _comparable(
        guardia_samples(tmp_path / "r")) == _comparable(guardia_samples(tmp_path / "d"))
    res = runner.invoke(app, ["tsdb", "analyze", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "http_requests_total" in res.output and "distinct series" in res.output


def test_restore_refuses_a_running_store(tmp_path: Path) -> None:
    om = DATA / "backfill_small.om"
    runner = CliRunner()
    runner.invoke(app, ["tsdb", "create-blocks-from", "openmetrics", "-q", str(om), str(tmp_path / "s")])
    db = TSDB.open(tmp_path / "d")
    try:
        res = runner.invoke(app, ["tsdb", "restore", str(tmp_path / "s"), str(tmp_path / "d")])
        assert res.exit_code == 1 and f"in use by process {os.getpid()} " in res.output
    finally:
        db.close()
    shutil.rmtree(tmp_path / "s")


def test_every_parsing_path_reads_the_same(tmp_path: Path) -> None:
    import numpy as np

    from guardia.storage.tsdb.backfill import _Fallback, _parse_fast, _parse_runs, _parse_slow

    text = (DATA / "backfill_small.om").read_text()
    # Interleave two series and add an exemplar: the fast paths must step aside or agree.
    extra = 'b_total 1 10\na_total 1 10\nb_total 2 20 # {trace_id="x"} 1 20\na_total 2 20\n'
    variants = [text, text.replace("# EOF\n", extra + "# EOF\n")]
    for body in variants:
        data = body.encode()
        slow = _parse_slow(Path("x"), body.split("\n"), None)
        for fast in (_parse_runs, _parse_fast):
            try:
                got = fast(data, None)
            except _Fallback:
                continue
            assert got.labels == slow.labels
            assert got.sid.tolist() == slow.sid.tolist()
            assert got.ts.tolist() == slow.ts.tolist()
            assert got.vs.view(np.uint64).tolist() == slow.vs.view(np.uint64).tolist()
