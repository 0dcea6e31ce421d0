"""Every check on a firing and a non-firing case, each a directory under data/checks/.

A case directory holds the files audited (every ``*.yml``), optionally ``series.txt`` (a live
store, see ``series_file``) or ``url.txt`` (a ``--url`` to audit against),
``alertmanager/notify_tests.jsonl`` (recorded ``guardia notify test`` outcomes: the case
directory is the data directory) and ``expect.txt``: ``check: NAME`` then one ``- KEY`` line per
finding of that check the audit must report, KEY being the finding's rule name, else its
argument (a metric, job, receiver, label...).  A case without ``- `` lines must report no
finding of that check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.audit.inputs import from_files
from guardia.audit.live import HttpLive, Live
from guardia.audit.notify_tests import from_data_dir
from guardia.audit.run import audit
from tests.audit import series_file

CASES = Path(__file__).parent / "data" / "checks"


def _cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "expect.txt").is_file())


def _expect(case: Path) -> tuple[str, list[str]]:
    lines = [line.strip() for line in (case / "expect.txt").read_text().splitlines() if line.strip()]
    check = lines[0].removeprefix("check:").strip()
    return check, sorted(line[2:].strip() for line in lines[1:] if line.startswith("- "))


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_check_case(case: Path) -> None:
    check, expected = _expect(case)
    files = sorted(str(p) for p in case.glob("*.yml"))
    live: Live | None = series_file.load(case / "series.txt") if (case / "series.txt").is_file() else None
    if (case / "url.txt").is_file():
        live = HttpLive((case / "url.txt").read_text().strip(), timeout=2)
    tests = from_data_dir(str(case)) if (case / "alertmanager" / "notify_tests.jsonl").is_file() else None
    findings = audit(from_files(files), live, tests=tests)
    got = sorted(f.rule or f.arg for f in findings if f.check == check)
    assert got == expected, "\n".join(f"{f.location()}: {f.check}: {f.message}" for f in findings)


def test_every_check_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _cases():
        check, expected = _expect(case)
        (firing if expected else quiet).add(check)
    assert firing == quiet
    assert len(firing) >= 24


def test_every_check_the_code_reports_is_documented_and_has_both_cases() -> None:
    """The checks named in src/guardia/audit, the table of docs/audit.md and the data cases
    are the same set, so a new check cannot ship without its documentation and its cases."""
    import re

    repo = Path(__file__).resolve().parents[2]
    code = {m for p in (repo / "src" / "guardia" / "audit").glob("*.py")
            for m in re.findall(r'"([a-z]+/[a-z-]+)",\s*(?:Severity\.|sev,)', p.read_text())}
    doc = (repo / "docs" / "audit.md").read_text()
    table = doc[doc.index("## The checks"):doc.index("## GRUPO_GAD")]
    documented = {name for line in table.splitlines() if line.startswith("| `")
                  for name in re.findall(r"`([a-z]+/[a-z-]+)`", line.split("|")[1])}
    cases: dict[str, set[bool]] = {}
    for case in _cases():
        check, expected = _expect(case)
        cases.setdefault(check, set()).add(bool(expected))
    assert code == documented
    assert {c for c, kinds in cases.items() if kinds == {True, False}} == documented
