"""`.ci/run`'s package step never starts, stops or restarts a system service.

The script is run for real with ``dpkg-query``, ``apt-get``, ``systemctl``, ``service`` and
``invoke-rc.d`` earlier on PATH as recorders (installing packages is not what is under test,
and the test must not touch the machine's services either way).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "install-system-deps.sh"


def _stub(bindir: Path, name: str, body: str) -> None:
    p = bindir / name
    p.write_text(f"#!/usr/bin/env bash\necho \"{name} $*\" >> \"$CALLS\"\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)


def _run(tmp_path: Path, installed: bool, policy_exists: bool = False) -> tuple[list[str], Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    calls.touch()
    policy = tmp_path / "policy-rc.d"
    if policy_exists:
        policy.write_text("#!/bin/sh\nexit 0\n")
    status = "install ok installed" if installed else "unknown ok not-installed"
    _stub(bindir, "dpkg-query", f"printf '{status}'")
    # apt-get records whether the start-refusing policy was in place while it ran
    _stub(bindir, "apt-get",
          'p="$GUARDIA_POLICY_RC_D"; [ -x "$p" ] && echo "policy $(tail -1 "$p")" >> "$CALLS"; true')
    for name in ("systemctl", "service", "invoke-rc.d", "sudo"):
        _stub(bindir, name, "exit 0")
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CALLS": str(calls),
           "GUARDIA_POLICY_RC_D": str(policy)}
    subprocess.run(["bash", str(SCRIPT)], env=env, check=True, capture_output=True, text=True)
    return calls.read_text().splitlines(), policy


@pytest.mark.parametrize("installed", [True, False])
def test_no_system_service_is_touched(tmp_path: Path, installed: bool) -> None:
    calls, _ = _run(tmp_path, installed)
    touched = [c for c in calls if c.split()[0] in ("systemctl", "service", "invoke-rc.d")]
    assert touched == []


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    calls, policy = _run(tmp_path, installed=True)
    assert not any(c.startswith("apt-get") for c in calls)
    assert not policy.exists()


def test_daemons_are_not_started_on_install_and_the_policy_is_removed(tmp_path: Path) -> None:
    calls, policy = _run(tmp_path, installed=False)
    installs = [i for i, c in enumerate(calls) if c.startswith("apt-get") and " install " in f" {c} "]
    assert installs, calls
    assert calls[installs[0] + 1] == "policy exit 101"
    assert not policy.exists()


def test_an_existing_policy_is_left_alone(tmp_path: Path) -> None:
    _, policy = _run(tmp_path, installed=False, policy_exists=True)
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
