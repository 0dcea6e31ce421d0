"""Scheduled reports: cron times, the `reports:` section, the store and delivery through the
Alertmanager config's real receivers (a webhook sink and an SMTP server)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from guardia.config.loader import load_config
from guardia.promql import Engine
from guardia.reports.cron import CronError, parse_cron
from guardia.reports.schedule import ReportScheduler, parse_reports_config
from guardia.reports.settings import SettingsError
from guardia.reports.source import EngineSource
from tests.alerting.sinks import HTTPSink
from tests.reports import synth


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("spec", "after", "expected"), [
    ("0 7 * * *", "2026-03-02T06:59:30", "2026-03-02T07:00:00"),
    ("0 7 * * *", "2026-03-02T07:00:00", "2026-03-03T07:00:00"),
    ("*/15 * * * *", "2026-03-02T10:07:00", "2026-03-02T10:15:00"),
    ("30 8 * * mon-fri", "2026-03-06T09:00:00", "2026-03-09T08:30:00"),  # Friday after -> Monday
    ("@weekly", "2026-03-02T00:00:00", "2026-03-08T00:00:00"),  # Sunday midnight
    ("0 0 1,15 * *", "2026-03-02T00:00:00", "2026-03-15T00:00:00"),
    ("0 6 13 * 5", "2026-03-02T00:00:00", "2026-03-06T06:00:00"),  # day 13 OR a Friday, as cron
    ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
])
def test_cron_next_run(spec: str, after: str, expected: str) -> None:
    assert parse_cron(spec).next_after(ms(after)) == ms(expected)


@pytest.mark.parametrize(("spec", "message"), [
    ("0 7 * *", "five fields"),
    ("61 * * * *", "minute '61' is not between 0 and 59"),
    ("0 7 * * funday", "day of week 'funday'"),
    ("*/0 * * * *", "step '0' must be a positive number"),
    ("0 0 31 2 *", "never matches"),
    ("5-1 * * * *", "runs backwards"),
])
def test_bad_cron_says_why(spec: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        parse_cron(spec)


@pytest.mark.parametrize(("section", "message"), [
    ({"schedules": [{"name": "d", "schedule": "0 7 * * *", "recievers": ["x"]}]},
     r"reports.schedules\[0\]: unknown field 'recievers'"),
    ({"schedules": [{"name": "d", "schedule": "daily"}]}, r"reports.schedules\[0\].schedule: 'daily'"),
    ({"schedules": [{"name": "d e", "schedule": "@daily"}]}, r"reports.schedules\[0\].name"),
    ({"schedules": [{"name": "d", "schedule": "@daily", "window": "1 day"}]}, r"reports.schedules\[0\]"),
    ({"schedules": [{"name": "d", "schedule": "@daily"}, {"name": "d", "schedule": "@daily"}]},
     "used twice"),
    ({"targets": {"availability": 99.9}}, "ratio between 0 and 1"),
    ({"sechdules": []}, "unknown field 'sechdules'"),
])
def test_bad_reports_section_names_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_reports_config(section)


CONFIG = """
scrape_configs: []
alertmanager:
  route: {{receiver: ops}}
  receivers:
    - name: ops
      webhook_configs: [{{url: '{sink}/hook'}}]
      email_configs:
        - to: ops@example.org
          from: guardia@example.org
          smarthost: 127.0.0.1:{smtp}
          require_tls: false
reports:
  targets: {{availability: 0.99}}
  schedules:
    - name: daily-api
      schedule: "0 7 * * *"
      window: 24h
      baseline: 4d
      service: api
      receivers: [ops, nobody]
      keep: 2
"""


class Mail:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


async def test_scheduled_report_is_stored_and_sent_through_the_receivers(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    sink = await HTTPSink().start()
    mail = Mail()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(mail, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        cfg_file = tmp_path / "guardia.yml"
        cfg_file.write_text(CONFIG.format(sink=sink.url, smtp=port))
        cfg = load_config(str(cfg_file))
        store = synth.load_memory(synth.build())
        now = [synth.END / 1000 - 2 * 3600]
        sched = ReportScheduler(tmp_path / "reports", EngineSource(Engine(), store),
                                external_url="http://guardia.example", alertmanager=lambda: cfg.alertmanager,
                                clock=lambda: now[0])
        sched.apply_config(cfg)
        (info,) = sched.schedules()
        assert info["next_run"] * 1000 == synth.END - synth.END % 86_400_000 + 7 * 3_600_000
        # the loop writes the report once its time has come
        now[0] = info["next_run"] + 1
        stop = asyncio.Event()
        task = asyncio.create_task(sched.run(stop))
        for _ in range(600):
            if sched.entries():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        (entry,) = sched.entries()
        assert entry["schedule"] == "daily-api" and entry["service"] == "api"
        for fmt in ("json", "md", "html"):
            assert sched.read(entry["id"], fmt)
        doc = json.loads(sched.read(entry["id"], "json") or b"")
        assert doc["service"] == "api" and doc["score"]["formula"]
        # delivered: the webhook and the e-mail of receiver "ops"; "nobody" is reported, not raised
        assert [(d["receiver"], d["integration"], d["ok"]) for d in entry["deliveries"]] == [
            ("ops", "webhook[0]", True), ("ops", "email[0]", True), ("nobody", "", False)]
        assert "no receiver named 'nobody'" in entry["deliveries"][2]["error"]
        (req,) = sink.requests
        alert = req.json()["alerts"][0]
        assert alert["labels"] == {"alertname": "GuardiaOpsReport", "report": "daily-api",
                                   "severity": "warning"}
        assert alert["annotations"]["summary"].startswith("Operations report daily-api: score ")
        assert alert["annotations"]["report_url"] == f"http://guardia.example/reports/{entry['id']}"
        assert "memory_leak (job=api): FAIL" in alert["annotations"]["description"]
        (msg,) = mail.messages
        assert b"GuardiaOpsReport" in msg
        assert sched.schedules()[0]["next_run"] > now[0]
    finally:
        smtp.stop()
        await sink.stop()


async def test_keep_limits_the_stored_reports(tmp_path: Path) -> None:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text("scrape_configs: []\nreports:\n  schedules:\n"
                   "    - {name: hourly, schedule: '@hourly', window: 1h, baseline: 1h, keep: 2}\n")
    clock = [synth.END / 1000]
    sched = ReportScheduler(tmp_path / "reports", EngineSource(Engine(), synth.load_memory(synth.build())),
                            clock=lambda: clock[0])
    sched.apply_config(load_config(str(cfg)))
    ids = []
    for _ in range(3):
        clock[0] += 3600
        ids.append((await sched.run_now("hourly")).id)
    # newest first, the oldest deleted with its files
    assert len(set(ids)) == 3
    assert [e["id"] for e in sched.entries()] == ids[::-1][:2]
    assert sched.read(ids[0], "html") is None and sched.read(ids[2], "html") is not None
    with pytest.raises(KeyError):
        await sched.run_now("weekly")
