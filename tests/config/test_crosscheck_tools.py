"""What promtool / amtool reject, guardia rejects.

Runs the real Debian tools (promtool 2.42, amtool) on every file listed in
data/crosscheck/cases.yml and compares with ``guardia check config``'s verdict.  Where the
tools and guardia disagree, cases.yml says why (a Prometheus 3 change, or a guardia check
such as placeholder secrets); the only accepted "tool rejects, guardia accepts" cases are
files that Prometheus 3 itself accepts (marked ``prometheus3: true``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardia.config.loader import check_file

DIR = Path(__file__).parent / "data" / "crosscheck"
CASES: list[dict[str, Any]] = yaml.safe_load((DIR / "cases.yml").read_text())
COMMANDS = {
    "promtool": ["promtool", "check", "config"],
    "promtool-rules": ["promtool", "check", "rules"],
    "amtool": ["amtool", "check-config"],
}


def tool_accepts(tool: str, file: str) -> tuple[bool, str]:
    proc = subprocess.run([*COMMANDS[tool], file], cwd=DIR, capture_output=True, text=True, timeout=60)
    return proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("case", CASES, ids=[c["file"].split("/", 1)[-1] for c in CASES])
def test_guardia_rejects_what_the_tools_reject(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ok, out = tool_accepts(case["tool"], case["file"])
    assert ok == case["tool_ok"], f"{case['tool']} changed its verdict on {case['file']}:\n{out}"
    monkeypatch.chdir(DIR)
    result = check_file(case["file"])
    errors = [str(i) for i in result.issues if i.severity == "error"]
    assert result.ok == case["guardia_ok"], "\n".join(errors)
    if not ok and result.ok:
        assert case.get("prometheus3"), f"{case['tool']} rejects {case['file']} but guardia accepts it"
    if ok != result.ok:
        assert case.get("note"), "every disagreement with the real tool must say why"
