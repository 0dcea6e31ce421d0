"""guardia's own PromQL scripts (cases the upstream scripts do not cover)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.promql.scripttest import ScriptRunner

CASES = sorted(Path(__file__).with_name("cases").glob("*.test"))


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_case_script(path: Path) -> None:
    report = ScriptRunner().run_file(path)
    assert report.failed == 0, "\n".join(f"{f.line}: {f.query}\n{f.diff}" for f in report.failures)
    assert report.passed > 0
