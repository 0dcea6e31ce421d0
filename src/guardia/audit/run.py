"""One audit: every check over one ``AuditInput``, optionally against a live store.

A live store that cannot answer is one ``audit/live`` finding (the checks that needed it are
skipped), never a crash and never a silent pass.
"""

from __future__ import annotations

from datetime import datetime

from guardia.audit import disable
from guardia.audit.coverage import coverage_checks
from guardia.audit.finding import Finding, Severity
from guardia.audit.inputs import AuditInput
from guardia.audit.live import Live, LiveError
from guardia.audit.notify_tests import TestEvidence
from guardia.audit.routing import Delivery, routing_checks
from guardia.audit.rule_checks import live_checks, static_checks


def audit(inp: AuditInput, live: Live | None = None, *, retention_s: float | None = None,
          now: datetime | None = None, delivery: list[Delivery] | None = None,
          tests: TestEvidence | None = None) -> list[Finding]:
    """Every finding, disable comments applied, sorted by file and line."""
    findings: list[Finding] = list(inp.errors)
    intervals: dict[str, float] = {}
    if live is not None:
        try:
            intervals = live.job_intervals()
        except LiveError:
            intervals = {}
    findings += static_checks(inp, intervals)
    live_ok = live
    if live is not None:
        try:
            findings += live_checks(inp, live)
        except LiveError as e:
            findings.append(Finding("audit/live", Severity.WARNING, "", None,
                                    f"cannot check the rules against {live.name}: {e}; the live "
                                    "checks were skipped", arg=live.name))
            live_ok = None
    try:
        findings += routing_checks(inp, live_ok, delivery, tests)
        findings += coverage_checks(inp, live_ok, retention_s)
    except LiveError as e:
        findings.append(Finding("audit/live", Severity.WARNING, "", None,
                                f"{live.name if live else 'the store'} stopped answering: {e}",
                                arg=live.name if live else ""))
    kept = disable.apply(findings, now)
    kept += disable.extra_files(kept, inp.files, now)
    return sorted(dict.fromkeys(kept), key=Finding.sort_key)
