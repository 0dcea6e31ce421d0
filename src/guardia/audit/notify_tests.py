"""The recorded outcomes of ``guardia notify test``, as evidence for the audit and readiness.

They come from a data directory (``<data>/alertmanager/notify_tests.jsonl``: the CLI's
``--storage.tsdb.path``, or ``serve``'s own) or from a running guardia
(``GET /api/v1/notify/tests``).  A Prometheus has no such endpoint: then there is simply no
test evidence, which readiness reports as such, never as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx is imported where a request is made (#28: ~2 MiB resident)
    import httpx

from guardia.alerting.notify_test import LogProblem, NotifyTestLog, TestOutcome, latest
from guardia.audit.finding import Finding, Severity
from guardia.audit.live import auth_headers, redact_url


@dataclass(slots=True)
class TestEvidence:
    source: str  # the file or URL the records came from
    records: list[TestOutcome] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)

    def latest(self) -> dict[tuple[str, str], TestOutcome]:
        return latest(self.records)

    def findings(self) -> list[Finding]:
        """A record file that could not be read, line by line: said, never silently ignored."""
        return [Finding("audit/evidence", Severity.WARNING, p.file, p.line, p.message, arg="notify-tests")
                for p in self.problems]


def from_data_dir(data_dir: str) -> TestEvidence:
    log = NotifyTestLog(data_dir)
    got = log.read()
    return TestEvidence(str(log.path), got.records, got.problems)


def from_url(url: str, client: httpx.Client | None = None) -> TestEvidence | None:
    """The running guardia's records; None when ``url`` keeps none (a Prometheus: 404) or does
    not answer (the audit reports that as ``audit/live``)."""
    import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

    full = url.rstrip("/") + "/api/v1/notify/tests"
    endpoint = redact_url(full)
    own = client is None
    c = client or httpx.Client(timeout=15, headers=auth_headers())
    try:
        r = c.get(full)
        body: Any = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    finally:
        if own:
            c.close()
    if r.status_code in (401, 403):
        return TestEvidence(endpoint, problems=[LogProblem(
            endpoint, None, f"answered HTTP {r.status_code}: the recorded receiver tests need a viewer's "
                            "credentials (user:password@ in --url)")])
    if not isinstance(body, dict) or body.get("status") != "success" \
            or not isinstance(body.get("data"), dict):
        return None
    ev = TestEvidence(endpoint)
    for rec in body["data"].get("records") or []:
        try:
            ev.records.append(TestOutcome.from_dict(rec))
        except ValueError as e:
            ev.problems.append(LogProblem(endpoint, None, f"a record is not a notify test ({e}); skipped"))
    for p in body["data"].get("problems") or []:
        if isinstance(p, dict):
            ev.problems.append(LogProblem(str(p.get("file") or endpoint), p.get("line"),
                                          str(p.get("message") or "")))
    return ev
