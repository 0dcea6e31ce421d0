"""`guardia report ops` as a user runs it: a data directory, each format, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guardia.model import format_rfc3339
from tests.reports import synth

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("reportdata") / "data"
    synth.load_tsdb(synth.build(), str(d))
    return d


def guardia(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "guardia.cli.main", "report", "ops", *args],
                          capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def common(data_dir: Path) -> list[str]:
    return ["--data-dir", str(data_dir), "--window", "24h", "--baseline", "4d",
            "--end", str(synth.END // 1000)]


def test_json_from_a_data_directory(data_dir: Path) -> None:
    r = guardia(*common(data_dir), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    names = {f["name"] for f in doc["figures"]}
    assert {"availability", "outages", "latency_p50", "latency_p95", "latency_p99", "error_rate",
            "success_rate", "memory_leak", "restarts", "anomalies", "alerts", "deployments"} <= names
    (outages,) = [f for f in doc["figures"] if f["name"] == "outages"]
    assert outages["details"][0]["start"] == format_rfc3339(synth.OUTAGE[0])
    assert doc["score"]["formula"].startswith("score = 10 × passed")


def test_markdown_to_a_file_and_since_deploy(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ops.md"
    r = guardia(*common(data_dir), "--since-deploy", "v2.0.1", "--service", "api", "-o", str(out))
    assert r.returncode == 0, r.stderr
    md = out.read_text()
    # the window starts when v2.0.1 finished and runs 24 h or to --end, the baseline before it
    assert "since the deployment of v2.0.1" in md
    start = synth.DEPLOY_AT
    assert f"Window: {_when(start)} → {_when(synth.END)}" in md
    assert 'up{job="api"}' in md


def _when(ms: int) -> str:
    from guardia.reports.fmt import when

    return when(ms)


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "docx"], "--format 'docx': use one of md, json, html, pdf"),
    (["--window", "yesterday"], "yesterday"),
    (["--format", "pdf"], "--format pdf needs --output FILE.pdf"),
    (["--since-deploy", "v9.9.9"], "no deployment of version 'v9.9.9'"),
])
def test_bad_input_says_what_to_do(data_dir: Path, args: list[str], message: str) -> None:
    r = guardia(*common(data_dir), *args)
    assert r.returncode == 1
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_directory_and_unreachable_url(tmp_path: Path) -> None:
    r = guardia("--data-dir", str(tmp_path / "nope"))
    assert r.returncode == 1 and "no such directory" in r.stderr
    r = guardia("--url", "http://127.0.0.1:9")
    assert r.returncode == 1 and "cannot reach http://127.0.0.1:9" in r.stderr


def test_bad_reports_section_names_the_field(data_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text("reports:\n  metrics:\n    latency: foo\n")
    r = guardia(*common(data_dir), "--config", str(cfg))
    assert r.returncode == 1
    assert "reports.metrics: unknown field 'latency'" in r.stderr
