"""systemd journal records (journalctl -o json) as lines and labels."""

from __future__ import annotations

from pathlib import Path

from guardia.logs import LogStore
from guardia.logs.config import JournalConfig
from guardia.logs.journal import JournalReader, journal_entry
from guardia.logs.relabel import parse_relabel_configs
from guardia.model import Labels


def test_a_journal_record_becomes_a_labelled_line() -> None:
    labels, ts, line = journal_entry({
        "MESSAGE": "Started nginx.service.", "_SYSTEMD_UNIT": "nginx.service", "_HOSTNAME": "web1",
        "SYSLOG_IDENTIFIER": "systemd", "PRIORITY": "6", "__REALTIME_TIMESTAMP": "1700000000123456",
    }, (("job", "journal"),))
    assert labels == Labels({"job": "journal", "unit": "nginx.service", "host": "web1", "app": "systemd",
                             "severity": "informational"})
    assert ts == 1_700_000_000_123_456_000
    assert line == b"Started nginx.service."


def test_relabel_configs_see_journal_fields_as_promtail_names_them() -> None:
    rules = parse_relabel_configs([
        {"source_labels": ["__journal__systemd_unit"], "target_label": "unit"},
        {"source_labels": ["__journal_priority"], "regex": "[0-3]", "target_label": "urgent",
         "replacement": "yes"},
        {"source_labels": ["__journal__systemd_unit"], "regex": "session-.*", "action": "drop"},
    ], "relabel_configs", _fail)
    doc = {"MESSAGE": "x", "_SYSTEMD_UNIT": "nginx.service", "PRIORITY": "2", "_HOSTNAME": "web1"}
    labels, _, _ = journal_entry(doc, (("job", "journal"),), rules)
    assert labels == Labels({"job": "journal", "unit": "nginx.service", "urgent": "yes"})
    dropped, _, _ = journal_entry({**doc, "_SYSTEMD_UNIT": "session-3.scope"}, (("job", "journal"),), rules)
    assert not dropped


def _fail(where: str, msg: str) -> None:
    raise AssertionError(f"{where}: {msg}")


def test_a_binary_message_arrives_as_its_bytes() -> None:
    _, _, line = journal_entry({"MESSAGE": [104, 105, 255]}, ())
    assert line == b"hi\xff"


async def test_without_a_journal_the_reader_does_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    cfg = JournalConfig("journal", (("job", "journal"),), path=str(tmp_path / "no-journal-here"))
    reader = JournalReader(store, cfg, tmp_path / "cursor")
    assert await reader.start() is False  # no journal directory: nothing is spawned
    assert reader._proc is None
    await reader.stop()
    store.close()
