"""A test notification through every integration of one receiver, each outcome kept as evidence.

``guardia notify test`` runs it from the command line and ``POST /api/v1/notify/test`` inside
``guardia serve``; both append the outcomes to ``<data>/alertmanager/notify_tests.jsonl``
(``NotifyTestLog``), which the audit's ``receiver/failing`` check and the readiness checklist's
delivery item read: "the Slack route was tested on the 3rd and answered 404" is evidence, a
receiver nobody ever tested is not.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from guardia.alerting.persist import write_atomic_text
from guardia.alerting.receivers import build_notifier
from guardia.alerting.receivers.base import NotifyContext, NotifyError
from guardia.alerting.types import Alert
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.model.labels import Labels

TEST_ALERTNAME = "GuardiaTestNotification"
TIMEOUT_S = 30.0
LOG_NAME = "notify_tests.jsonl"


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """One integration's answer to one test: when, which, and the exact error when it failed."""

    time: float  # unix seconds, when the attempt ended
    receiver: str
    integration: str  # "slack[0]": the kind and its index in the receiver, as in the status page
    ok: bool
    error: str = ""
    retryable: bool = False
    duration_s: float = 0.0
    by: str = ""  # who ran it: "cli:<login>" or the API user

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> TestOutcome:
        """A record read back; ``ValueError`` naming the field when it is not one."""
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        t = d.get("time")
        if not isinstance(t, (int, float)) or isinstance(t, bool):
            raise ValueError("field 'time' is missing or not a number")
        for name in ("receiver", "integration"):
            if not isinstance(d.get(name), str) or not d[name]:
                raise ValueError(f"field {name!r} is missing or not a string")
        if not isinstance(d.get("ok"), bool):
            raise ValueError("field 'ok' is missing or not true/false")
        return cls(float(d["time"]), d["receiver"], d["integration"], d["ok"], str(d.get("error") or ""),
                   bool(d.get("retryable")), float(d.get("duration_s") or 0.0), str(d.get("by") or ""))


class NotTestable(Exception):
    """The receiver cannot be tested: not defined, placeholders refused, or no integrations."""


@dataclass(slots=True)
class TestRun:
    receiver: str
    outcomes: list[TestOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)


def test_alert(receiver: str, now_ns: int) -> Alert:
    return Alert(
        labels=Labels({"alertname": TEST_ALERTNAME, "severity": "none", "receiver": receiver}),
        annotations=Labels({
            "summary": f"TEST notification from guardia for receiver {receiver!r}",
            "description": "Sent by `guardia notify test` to check this route end to end. "
                           "No action is needed.",
        }),
        starts_at=now_ns, ends_at=0, updated_at=now_ns,
    )


def refusals(cfg: AlertmanagerConfig, name: str) -> list[str]:
    """Why ``name`` cannot be tested (empty: it can)."""
    receiver = cfg.receiver(name)
    if receiver is None:
        names = ", ".join(r.name for r in cfg.receivers) or "(none)"
        return [f'receiver "{name}" is not defined; defined receivers: {names}']
    refused = [f"REFUSED {w}" for w in cfg.warnings
               if "would never deliver" in w.message and f'"{name}"' in w.message]
    if refused:
        return [*refused, "nothing was sent: fix the placeholder values above first"]
    if not receiver.integrations():
        return [f'receiver "{name}" has no integrations: alerts routed to it go nowhere']
    return []


async def run_test(cfg: AlertmanagerConfig, name: str, external_url: str, *, by: str = "",
                   timeout_s: float = TIMEOUT_S) -> TestRun:
    """Send one test alert through every integration of receiver ``name``; never raises for a
    failed delivery (that is an outcome), only ``NotTestable``."""
    why = refusals(cfg, name)
    if why:
        raise NotTestable("\n".join(why))
    receiver = cfg.receiver(name)
    assert receiver is not None
    now = time.time_ns()
    alert = test_alert(name, now)
    ctx = NotifyContext(group_key=f'{{}}:{{alertname="{TEST_ALERTNAME}"}}', receiver=name,
                        group_labels=Labels({"alertname": TEST_ALERTNAME}), now=now,
                        external_url=external_url)
    run = TestRun(name)
    for kind, i, c in receiver.integrations():
        t0 = time.monotonic()
        error, retryable = "", False
        try:
            await asyncio.wait_for(build_notifier(kind, c, cfg).send(ctx, [alert]), timeout_s)
        except NotifyError as e:
            error, retryable = str(e) or type(e).__name__, e.retryable
        except TimeoutError:
            error, retryable = f"no answer within {timeout_s:g}s", True
        run.outcomes.append(TestOutcome(time.time(), name, f"{kind}[{i}]", not error, error, retryable,
                                        round(time.monotonic() - t0, 3), by))
    return run


# -- the record of tests -------------------------------------------------------------------------


def log_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "alertmanager" / LOG_NAME


@dataclass(frozen=True, slots=True)
class LogProblem:
    """A line (or the whole file) that could not be read: it costs that line only."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass(slots=True)
class LogRead:
    records: list[TestOutcome]
    problems: list[LogProblem]


class NotifyTestLog:
    """``<data>/alertmanager/notify_tests.jsonl``: one JSON object a line, appended.

    A line that does not parse (a crash in the middle of a write, a hand edit) is skipped with
    its file and line, and the rest is still read; the next append starts on a new line, so a
    torn last line never swallows a new record.

    A scheduled ``notify test`` (cron, a CI job) would grow the file forever, and every audit
    reads all of it; so once it passes ``max_bytes`` an append rewrites it with the newest
    ``keep_per_integration`` records of each (receiver, integration): the evidence the audit
    and readiness read (the latest outcome) and a recent history stay. The rewrite goes to a
    temporary file renamed over the old one, so a crash leaves one whole file or the other.
    """

    def __init__(self, data_dir: str | Path, max_bytes: int = 1 << 20,
                 keep_per_integration: int = 50) -> None:
        self.path = log_path(data_dir)
        self.max_bytes = max_bytes
        self.keep_per_integration = keep_per_integration

    def append(self, outcomes: Iterable[TestOutcome]) -> None:
        """Append the records and fsync; ``OSError`` (with the path) when the file cannot be written."""
        text = "".join(json.dumps(o.to_dict(), ensure_ascii=False) + "\n" for o in outcomes)
        if not text:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                text = "\n" + text
            os.write(fd, text.encode())
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.max_bytes:
            self._compact()

    def _compact(self) -> None:
        by_key: dict[tuple[str, str], list[TestOutcome]] = {}
        for r in self.read().records:
            by_key.setdefault((r.receiver, r.integration), []).append(r)
        kept: list[TestOutcome] = []
        for recs in by_key.values():
            recs.sort(key=lambda r: r.time)
            kept += recs[-self.keep_per_integration:]
        kept.sort(key=lambda r: r.time)
        write_atomic_text(self.path, "".join(json.dumps(o.to_dict(), ensure_ascii=False) + "\n"
                                             for o in kept))

    def read(self) -> LogRead:
        if not self.path.exists():
            return LogRead([], [])
        try:
            raw = self.path.read_bytes()
        except OSError as e:
            return LogRead([], [LogProblem(str(self.path), None, f"cannot be read ({e.strerror or e}); no "
                                           "notify test is known until it can")])
        records: list[TestOutcome] = []
        problems: list[LogProblem] = []
        for n, line in enumerate(raw.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                records.append(TestOutcome.from_dict(json.loads(line)))
            except (ValueError, UnicodeDecodeError) as e:
                problems.append(LogProblem(str(self.path), n, f"not a notify test record ({e}); skipped, "
                                                              "the other lines are read"))
        return LogRead(records, problems)


def latest(records: Iterable[TestOutcome]) -> dict[tuple[str, str], TestOutcome]:
    """The newest outcome of every (receiver, integration)."""
    out: dict[tuple[str, str], TestOutcome] = {}
    for r in records:
        key = (r.receiver, r.integration)
        if key not in out or r.time >= out[key].time:
            out[key] = r
    return out
