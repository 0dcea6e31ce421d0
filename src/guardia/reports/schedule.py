"""Scheduled reports: ``reports.schedules`` in guardia.yml, run by ``guardia serve``.

Each schedule writes a report at its cron time (UTC) from the server's own store, keeps it
under ``<data>/reports`` (JSON, Markdown and HTML; the last ``keep`` per schedule) and sends a
summary with a link to it through receivers of the Alertmanager config: the same e-mail, Slack
or webhook integrations alerts use, so a team configures its destinations once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from guardia.model import DurationError, parse_duration
from guardia.reports.build import ReportRequest, build_report
from guardia.reports.cron import Cron, CronError, parse_cron
from guardia.reports.deliver import Delivery, deliver
from guardia.reports.figures import Report
from guardia.reports.render import render
from guardia.reports.settings import ReportSettings, SettingsError, parse_settings
from guardia.reports.source import Source, SourceUnreachable

log = logging.getLogger("guardia.reports")

SCHEDULE_FIELDS = ("name", "schedule", "window", "baseline", "service", "receivers", "keep", "title",
                   "source")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    cron: Cron
    window_ms: int
    baseline_ms: int
    service: str = ""
    receivers: tuple[str, ...] = ()
    keep: int = 30
    title: str = ""
    source: str = ""  # a remote_read entry's name: the report reads that engine's PromQL API


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    settings: ReportSettings = field(default_factory=ReportSettings)
    schedules: tuple[Schedule, ...] = ()


def parse_reports_config(section: Mapping[str, Any] | None) -> ReportsConfig:
    """The whole ``reports:`` section; ``SettingsError`` names the field that is wrong."""
    section = section or {}
    unknown = sorted(set(section) - {"metrics", "targets", "schedules"})
    if unknown:
        raise SettingsError(f"reports: unknown field {unknown[0]!r}; known: metrics, targets, schedules")
    settings = parse_settings(section)
    raw = section.get("schedules") or ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise SettingsError("reports.schedules must be a list of {name, schedule, window, baseline, "
                            "receivers}")
    out: list[Schedule] = []
    seen: set[str] = set()
    for i, s in enumerate(raw):
        where = f"reports.schedules[{i}]"
        if not isinstance(s, Mapping):
            raise SettingsError(f"{where} must be a mapping with name, schedule, window, baseline, receivers")
        bad = sorted(set(s) - set(SCHEDULE_FIELDS))
        if bad:
            raise SettingsError(f"{where}: unknown field {bad[0]!r}; known: {', '.join(SCHEDULE_FIELDS)}")
        name = s.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SettingsError(f"{where}.name must be letters, digits, '.', '_' or '-' (it names files)")
        if name in seen:
            raise SettingsError(f"{where}.name {name!r} is used twice")
        seen.add(name)
        try:
            cron = parse_cron(str(s.get("schedule", "")))
        except CronError as e:
            raise SettingsError(f"{where}.schedule: {e}") from None
        try:
            window = parse_duration(str(s.get("window", "24h")))
            baseline = parse_duration(str(s.get("baseline", "7d")))
        except DurationError as e:
            raise SettingsError(f"{where}: {e}") from None
        if window <= 0:
            raise SettingsError(f"{where}.window must be a positive duration")
        receivers = s.get("receivers") or []
        if isinstance(receivers, str):
            receivers = [receivers]
        if not isinstance(receivers, Sequence) or not all(isinstance(r, str) and r for r in receivers):
            raise SettingsError(f"{where}.receivers must be a list of receiver names from the "
                                "alertmanager config")
        keep = s.get("keep", 30)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise SettingsError(f"{where}.keep must be a positive number of reports to keep")
        source = s.get("source") or ""
        if not isinstance(source, str):
            raise SettingsError(f"{where}.source must be the name of a remote_read entry")
        out.append(Schedule(name, cron, window, baseline, str(s.get("service") or ""), tuple(receivers),
                            keep, str(s.get("title") or ""), source))
    return ReportsConfig(settings, tuple(out))


@dataclass(slots=True)
class Entry:
    """One stored report, as the list and the API show it."""

    id: str
    schedule: str
    generated_ms: int
    start_ms: int
    end_ms: int
    service: str
    score: float | None
    failed: int
    no_data: int
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "schedule": self.schedule, "generated": self.generated_ms / 1000,
                "window": {"start": self.start_ms / 1000, "end": self.end_ms / 1000},
                "service": self.service, "score": self.score, "failed": self.failed,
                "no_data": self.no_data, "deliveries": self.deliveries}


class ReportStore:
    """``<dir>/<id>.json|.md|.html`` and ``<id>.entry.json``; ids sort by time within a schedule."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def save(self, name: str, report: Report, keep: int, explore_base: str = "") -> Entry:
        """Store ``report``, named by its window's end (a second run for the same end gets a
        suffix), and drop the oldest beyond ``keep``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(report.end_ms / 1000))
        rid, n = f"{name}-{stamp}", 1
        while (self.dir / f"{rid}.entry.json").exists():
            n += 1
            rid = f"{name}-{stamp}-{n}"
        s = report.score
        entry = Entry(rid, name, report.generated_ms, report.start_ms, report.end_ms, report.service,
                      s.value if s else None, s.failed if s else 0, s.no_data if s else 0)
        for ext, fmt in (("json", "json"), ("md", "md"), ("html", "html")):
            (self.dir / f"{rid}.{ext}").write_bytes(render(report, fmt, explore_base))
        self.write_entry(entry)
        old = [e for e in self.list() if e.schedule == name][keep:]
        for e in old:
            for ext in ("json", "md", "html", "entry.json"):
                with contextlib.suppress(FileNotFoundError):
                    (self.dir / f"{e.id}.{ext}").unlink()
        return entry

    def write_entry(self, entry: Entry) -> None:
        tmp = self.dir / f".{entry.id}.entry.json"
        tmp.write_text(json.dumps(entry.to_json()))
        tmp.replace(self.dir / f"{entry.id}.entry.json")

    def list(self) -> list[Entry]:
        out = []
        for p in self.dir.glob("*.entry.json") if self.dir.is_dir() else ():
            try:
                d = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            out.append(Entry(d["id"], d["schedule"], int(d["generated"] * 1000),
                             int(d["window"]["start"] * 1000), int(d["window"]["end"] * 1000),
                             d.get("service", ""), d.get("score"), d.get("failed", 0),
                             d.get("no_data", 0), d.get("deliveries", [])))
        return sorted(out, key=lambda e: (-e.end_ms, -e.generated_ms, e.id))

    def read(self, rid: str, ext: str) -> bytes | None:
        if not _NAME.match(rid) or ext not in ("json", "md", "html"):
            return None
        p = self.dir / f"{rid}.{ext}"
        return p.read_bytes() if p.is_file() else None


class ReportScheduler:
    """Runs the schedules of the current config; ``apply_config`` is its reloader."""

    def __init__(self, directory: Path, source: Source, *, external_url: str = "",
                 slos: Callable[[], Sequence[Any]] = tuple, alertmanager: Callable[[], Any] = lambda: None,
                 clock: Callable[[], float] = time.time,
                 remote_sources: Callable[[], Mapping[str, Source]] = dict) -> None:
        self.store = ReportStore(directory)
        self.source = source
        self.remote_sources = remote_sources
        self.external_url = external_url
        self.slos = slos
        self.alertmanager = alertmanager
        self.clock = clock
        self.config = ReportsConfig()
        self._next: dict[str, int] = {}
        self._wake = asyncio.Event()

    def apply_config(self, cfg: Any) -> None:
        try:
            parsed = parse_reports_config(cfg.sections.reports)
        except SettingsError as e:
            raise ValueError(str(e)) from None
        named = {rr.name for rr in getattr(getattr(cfg, "prometheus", None), "remote_read", ()) if rr.name}
        for i, s in enumerate(parsed.schedules):
            if s.source and s.source not in named:
                known = ", ".join(sorted(named)) or "none: add a remote_read entry with a name"
                raise ValueError(f"reports.schedules[{i}].source: {s.source!r} names no remote_read entry "
                                 f"(known: {known})")
        now = int(self.clock() * 1000)
        before = {s.name: s.cron.text for s in self.config.schedules}
        self.config = parsed
        # an unchanged schedule keeps its next run; a new or changed one runs at its next time
        self._next = {s.name: self._next[s.name] if before.get(s.name) == s.cron.text and s.name in self._next
                      else s.cron.next_after(now) for s in parsed.schedules}
        self._wake.set()

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.config.schedules if s.name == name), None)

    def next_runs(self) -> dict[str, int]:
        return dict(self._next)

    def build(self, sched: Schedule) -> Report:
        req = ReportRequest(sched.window_ms, sched.baseline_ms, int(self.clock() * 1000), sched.service,
                            title=sched.title or f"Operations report: {sched.name}",
                            settings=self.config.settings, slos=tuple(self.slos()))
        source = self.source
        if sched.source:
            remote = self.remote_sources().get(sched.source)
            if remote is None:
                raise SourceUnreachable(f"schedule {sched.name}: source {sched.source!r} is not configured")
            source = remote
        return build_report(source, req)

    async def run_now(self, name: str) -> Entry:
        """Write schedule ``name``'s report now and deliver it (the API's "run now")."""
        sched = self.schedule(name)
        if sched is None:
            raise KeyError(name)
        report = await asyncio.to_thread(self.build, sched)
        entry = await asyncio.to_thread(self.store.save, sched.name, report, sched.keep, self.external_url)
        if sched.receivers:
            results = await deliver(self.alertmanager(), sched.receivers, entry_summary(report, sched.name,
                                    self.report_url(entry.id)))
            entry = replace(entry, deliveries=[d.to_json() for d in results])
            await asyncio.to_thread(self.store.write_entry, entry)
        log.info("event=report_written schedule=%s id=%s score=%s", name, entry.id, entry.score)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.store.list()]

    def read(self, rid: str, fmt: str) -> bytes | None:
        return self.store.read(rid, fmt)

    def schedules(self) -> list[dict[str, Any]]:
        from guardia.model import format_duration

        return [{"name": s.name, "schedule": s.cron.text, "window": format_duration(s.window_ms),
                 "baseline": format_duration(s.baseline_ms), "service": s.service,
                 "receivers": list(s.receivers), "keep": s.keep,
                 "next_run": self._next.get(s.name, 0) / 1000} for s in self.config.schedules]

    async def run_report(self, name: str) -> dict[str, Any]:
        return (await self.run_now(name)).to_json()

    def report_url(self, rid: str) -> str:
        return f"{self.external_url.rstrip('/')}/reports/{rid}"

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = int(self.clock() * 1000)
            due = [n for n, t in self._next.items() if t <= now]
            for name in due:
                sched = self.schedule(name)
                if sched is None:
                    continue
                self._next[name] = sched.cron.next_after(now)
                try:
                    await self.run_now(name)
                except Exception:
                    log.exception("event=report_failed schedule=%s", name)
            wait = min([t for t in self._next.values()], default=now + 60_000) - int(self.clock() * 1000)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self._wake), timeout=max(0.05, min(30.0, wait / 1000)))


async def _first(*events: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def entry_summary(report: Report, name: str, url: str) -> Delivery:
    s = report.score
    score = "no checks evaluated" if s is None or s.value is None else f"score {s.value:g}/10"
    failed = [f for f in report.figures() if f.verdict == "fail"]
    lines = [f"{f.name} ({', '.join(f'{k}={v}' for k, v in f.labels.items()) or 'all'}): FAIL"
             for f in failed[:15]]
    if len(failed) > 15:
        lines.append(f"… and {len(failed) - 15} more")
    if report.not_evaluated:
        lines.append(f"{len(report.not_evaluated)} figure(s) could not be evaluated (see the report)")
    cov = report.coverage.get("summary", "")
    if cov:
        lines.append(f"data: {cov}")
    summary = (f"Operations report {name}: {score}"
               + (f", {s.failed} failed, {s.no_data} without data" if s is not None else ""))
    return Delivery(name=name, summary=summary, description="\n".join(lines), url=url,
                    severity="warning" if failed else "info")
