"""Without Prometheus's test scripts (a clone outside the workspace), the conformance run is
skipped with the reason, not failed; with them it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _pytest(conformance_dir: Path) -> str:
    env = {**os.environ, "GUARDIA_CONFORMANCE_DIR": str(conformance_dir), "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          str(HERE / "test_conformance.py")], env=env, capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_absent_scripts_skip_with_the_reason(tmp_path: Path) -> None:
    out = _pytest(tmp_path / "nowhere")
    assert "1 skipped" in out
    assert "PromQL test scripts are not in" in out and "GUARDIA_CONFORMANCE_DIR" in out


def test_present_scripts_run(tmp_path: Path) -> None:
    (tmp_path / "tiny.test").write_text("load 1m\n  m 1 2\n\neval instant at 1m m\n  m 2\n")
    out = _pytest(tmp_path)
    assert "1 passed" in out
