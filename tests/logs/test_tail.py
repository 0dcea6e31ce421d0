"""File tailing: positions across restarts, logrotate's rename and copytruncate, multi-line, Docker."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from guardia.logs import LogStore
from guardia.logs.stages import build_multiline, build_stages
from guardia.logs.tail import FileTailer, Positions, TailTarget
from guardia.model import Matcher


def _lines(store: LogStore, **labels: str) -> list[str]:
    out: list[tuple[int, str]] = []
    for s in store.select([Matcher.equal(k, v) for k, v in labels.items()]):
        for p in store.read(s, 0, 1 << 62):
            out.extend((int(p.ts[i]), p.line(i).decode()) for i in range(len(p)))
    return [line for _, line in sorted(out)]


def _tailer(store: LogStore, tmp: Path, pattern: str, **kw: object) -> FileTailer:
    target = TailTarget("app", (pattern,), labels=(("job", "app"),), **kw)  # type: ignore[arg-type]
    return FileTailer(store, [target], Positions(tmp / "positions.json"))


def test_positions_survive_a_restart_without_rereading(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "store")
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\npart")
    t = _tailer(store, tmp_path, str(tmp_path / "*.log"))
    assert t.poll() == 2
    with log.open("a") as f:
        f.write("ial\nthree\n")
    t2 = _tailer(store, tmp_path, str(tmp_path / "*.log"))  # a restart: new tailer, same positions file
    assert t2.poll() == 2
    assert _lines(store, job="app") == ["one", "two", "partial", "three"]
    assert store.label_values("filename", 0, 1 << 62) == [str(log)]


def test_a_truncated_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "store")
    log = tmp_path / "app.log"
    log.write_text("a\nb\n")
    t = _tailer(store, tmp_path, str(log))
    t.poll()
    log.write_text("c\n")  # truncated and rewritten (copytruncate)
    t.poll()
    assert _lines(store, job="app") == ["a", "b", "c"]


needs_logrotate = pytest.mark.skipif(
    shutil.which("logrotate") is None,
    reason="Debian's logrotate is not installed (scripts/system-packages.txt)",
)


def _logrotate(tmp_path: Path, log: Path, mode: str) -> None:
    conf = tmp_path / f"logrotate-{mode}.conf"
    conf.write_text(f"{log} {{\n  rotate 5\n  {mode}\n  missingok\n  nocompress\n}}\n")
    subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)], check=True)


@needs_logrotate
def test_logrotate_create_while_the_app_writes_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "store")
    log = tmp_path / "app.log"
    log.write_text("")
    t = _tailer(store, tmp_path, str(log))
    n = 3000
    done = threading.Event()
    # logrotate's own race: a line written between its rename and its create makes a new app.log
    # that logrotate then moves to app.log-DATE.backup, where no tailer looks. Real apps reopen
    # after the rotation (postrotate signal), so a rotation here happens between two lines,
    # never inside one; the tailer still reads while lines arrive and files move.
    between_lines = threading.Lock()

    def writer() -> None:
        for i in range(n):
            with between_lines, log.open("a") as f:  # reopened per line, as an app following create
                f.write(f"line {i:05d}\n")
            if i % 500 == 0:
                time.sleep(0.01)
        done.set()

    th = threading.Thread(target=writer)
    th.start()
    rotations = 0
    while not done.is_set():
        t.poll()
        if rotations < 3 and log.exists() and log.stat().st_size > 2000:
            with between_lines:
                _logrotate(tmp_path, log, "create")
            rotations += 1
    th.join()
    t.poll()
    assert rotations >= 1
    assert _lines(store, job="app") == [f"line {i:05d}" for i in range(n)]


@needs_logrotate
def test_logrotate_copytruncate_between_reads_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # copytruncate drops whatever is written between its copy and its truncate (logrotate's own
    # race); with the writer between bursts, every line must arrive exactly once
    store = LogStore(tmp_path / "store")
    log = tmp_path / "app.log"
    log.write_text("")
    t = _tailer(store, tmp_path, str(log))
    for burst in range(4):
        with log.open("a") as f:
            for i in range(500):
                f.write(f"line {burst * 500 + i:05d}\n")
        t.poll()
        _logrotate(tmp_path, log, "copytruncate")
        assert log.stat().st_size == 0
    t.poll()
    assert _lines(store, job="app") == [f"line {i:05d}" for i in range(2000)]


def test_multiline_joins_a_stack_trace(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "store")
    log = tmp_path / "app.log"
    log.write_text(
        '2024-01-01 ERROR boom\nTraceback (most recent call last):\n  File "x.py"\n2024-01-01 INFO next\n'
    )
    specs = [{"multiline": {"firstline": r"^\d{4}-\d\d-\d\d", "max_wait_time": "0s"}}]
    t = _tailer(store, tmp_path, str(log), multiline=build_multiline(specs))
    t.poll()
    t.poll()
    assert _lines(store, job="app") == [
        '2024-01-01 ERROR boom\nTraceback (most recent call last):\n  File "x.py"',
        "2024-01-01 INFO next",
    ]


def test_docker_json_logs_get_container_labels(tmp_path: Path) -> None:
    cid = "a" * 64
    d = tmp_path / "containers" / cid
    d.mkdir(parents=True)
    (d / "config.v2.json").write_bytes(orjson.dumps({"Name": "/backend"}))
    (d / f"{cid}-json.log").write_bytes(
        orjson.dumps({"log": "GET /health 200\n", "stream": "stdout", "time": "2024-01-01T00:00:00.5Z"})
        + b"\n"
    )
    store = LogStore(tmp_path / "store")
    t = _tailer(
        store,
        tmp_path,
        str(tmp_path / "containers/*/*-json.log"),
        stages=tuple(build_stages([{"docker": {}}])),
    )
    t.poll()
    [s] = store.select([Matcher.equal("job", "app")])
    labels = dict(s.labels)
    assert (
        labels["container"] == "backend"
        and labels["container_id"] == "a" * 12
        and labels["stream"] == "stdout"
    )
    [p] = store.read(s, 0, 1 << 62)
    assert p.line(0) == b"GET /health 200"
    assert int(p.ts[0]) == 1704067200_500_000_000


def test_relabel_configs_label_and_drop_files(tmp_path: Path) -> None:
    from guardia.logs.config import parse_logs_config

    (tmp_path / "shop-api.log").write_text("a\n")
    (tmp_path / "shop-debug.log").write_text("b\n")
    cfg = parse_logs_config({"scrape_configs": [{
        "job_name": "app",
        "static_configs": [{"labels": {"job": "app", "__path__": str(tmp_path / "*.log")}}],
        "relabel_configs": [
            {"source_labels": ["filename"], "regex": ".*/shop-(.*)\\.log", "target_label": "service"},
            {"source_labels": ["service"], "regex": "debug", "action": "drop"},
            {"regex": "filename", "action": "labeldrop"},
        ],
    }]})
    store = LogStore(tmp_path / "store")
    t = FileTailer(store, list(cfg.tail), Positions(tmp_path / "positions.json"))
    assert t.poll() == 1
    assert [dict(s.labels) for s in store.select([Matcher.equal("job", "app")])] == [
        {"job": "app", "service": "api"}]
    assert t.poll() == 0 and str(tmp_path / "shop-debug.log") in t.dropped
    store.close()


def test_structured_metadata_stage_reaches_the_store(tmp_path: Path) -> None:
    from guardia.logs.logql import LogQLEngine, StreamsResult

    (tmp_path / "app.log").write_text("level=info trace_id=t1 msg=a\nlevel=info msg=b\n")
    stages = tuple(build_stages([{"logfmt": {"mapping": {"trace_id": None}}},
                                 {"structured_metadata": {"trace_id": None}}]))
    store = LogStore(tmp_path / "store")
    t = _tailer(store, tmp_path, str(tmp_path / "*.log"), stages=stages)
    assert t.poll() == 2
    now = time.time_ns()
    res = LogQLEngine(store).query_range('{job="app"} | trace_id="t1"', now - 3600 * 10**9, now + 10**9,
                                         10**9, 100, "forward")
    assert isinstance(res, StreamsResult)
    assert [(labels.get("trace_id"), [line for _, line in v]) for labels, v in res.streams] == [
        ("t1", ["level=info trace_id=t1 msg=a"])]
    assert [dict(s.labels) for s in store.select([Matcher.equal("job", "app")])] == [
        {"job": "app", "filename": str(tmp_path / "app.log")}]
    store.close()
