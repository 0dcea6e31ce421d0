"""A real crash: SIGKILL a writing child at random moments; nothing acknowledged is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from guardia.model import Matcher
from guardia.storage.tsdb import TSDB, TSDBOptions

CHILD = Path(__file__).with_name("crash_child.py")


def _run_and_kill(path: Path, policy: str, delay: float) -> list[int]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), policy],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None
    acked: list[int] = []
    first = proc.stdout.readline()  # wait until it is appending
    assert first, proc.stderr.read().decode() if proc.stderr else "child died"
    acked.append(int(first))
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    acked.extend(int(x) for x in out.split())
    return acked


def test_every_acknowledged_commit_survives_sigkill(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    path = tmp_path / "data"
    all_acked: list[int] = []
    for run, policy in enumerate(["group", "always", "group", "always", "group", "group"]):
        acked = _run_and_kill(path, policy, rng.uniform(0.05, 0.8))
        assert acked, f"run {run}: nothing acknowledged"
        all_acked.extend(acked)
        db = TSDB.open(path, TSDBOptions(block_range_ms=60_000, retention_ms=0, chunk_slots=4))
        try:
            series = db.querier(0, 10**12).select([Matcher.equal("__name__", "c")])
            assert len(series) == 50
            for s in series:
                have = set(s.timestamps.tolist())
                missing = [t for t in all_acked if t not in have]
                assert not missing, f"run {run} ({policy}): lost {len(missing)} acknowledged samples"
                # Nothing invented: every value is the timestamp it was written at.
                assert np.array_equal(s.values, s.timestamps.astype(np.float64))
                assert (np.diff(s.timestamps) > 0).all()
        finally:
            db.close()
