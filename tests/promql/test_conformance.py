"""Prometheus's own PromQL test scripts, run through guardia's engine.

Every in-scope eval must pass, except those listed with a reason in
``known_failures.txt``; the list must be exact, so a fix shrinks it and a regression
fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from guardia.promql.scripttest import ScriptRunner

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("GUARDIA_CONFORMANCE_DIR", REPO / ".." / "shared" / "conformance" / "promql")
)
KNOWN = Path(__file__).with_name("known_failures.txt")


def _known() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in KNOWN.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, reason = line.partition(" ")
        assert reason.strip(), f"known failure {key} needs a reason"
        out[key] = reason.strip()
    return out


FILES = sorted(CONFORMANCE.glob("*.test"))
# The scripts are Prometheus's (promql/promqltest/testdata), kept beside the repository in the
# workspace, not inside it: a clone elsewhere skips them and says where they were looked for.
ABSENT = (f"Prometheus's PromQL test scripts are not in {CONFORMANCE}: point "
          "GUARDIA_CONFORMANCE_DIR at a copy of promql/promqltest/testdata to run them")
PARAMS = ([pytest.param(p, id=p.name) for p in FILES]
          or [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=ABSENT))])


@pytest.mark.parametrize("path", PARAMS)
def test_script(path: Path) -> None:
    report = ScriptRunner().run_file(path)
    known = {k for k in _known() if k.split(":")[0] == path.name}
    failed = {f"{path.name}:{f.line}" for f in report.failures}
    details = {f"{path.name}:{f.line}": f"{f.query}\n{f.diff}" for f in report.failures}
    new = sorted(failed - known)
    fixed = sorted(known - failed)
    assert not new, "new failures:\n" + "\n".join(f"{k}: {details[k]}" for k in new)
    assert not fixed, f"now passing, remove from known_failures.txt: {fixed}"
    assert report.passed > 0
