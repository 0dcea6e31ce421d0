"""Command checks read Nagios plugins' exit codes and perfdata; a plugin past its timeout is killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from guardia.checks.command import parse_perfdata, parse_plugin_output
from guardia.checks.config import load_checks
from guardia.checks.result import Status
from guardia.checks.service import CheckService

PLUGIN = Path(__file__).parent / "plugins" / "check_queue.sh"


def _service(tmp_path: Path, body: str) -> CheckService:
    p = tmp_path / "guardia.yml"
    p.write_text(f"checks:\n{body}")
    svc = CheckService(None)
    svc.load(load_checks(str(p)))
    return svc


def _plugin(name: str, arg: str, timeout: str = "5s") -> str:
    return f"  - name: {name}\n    timeout: {timeout}\n    command: {{argv: ['{PLUGIN}', '{arg}']}}\n"


async def test_states_and_perfdata(tmp_path: Path) -> None:
    svc = _service(tmp_path, _plugin("ok", "ok") + _plugin("warn", "warning") + _plugin("crit", "critical")
                   + _plugin("unk", "what"))
    out = await svc.run_all()
    ok = out["ok"]
    assert ok.ok and ok.status is Status.OK and ok.message == "QUEUE OK - 12 jobs"
    assert sorted(ok.rows) == [
        ((("perfdata", "latency"), ("unit", "seconds")), 0.25),
        ((("perfdata", "queue depth"),), 12.0),
        ((("perfdata", "size"), ("unit", "bytes")), 2048.0),
    ]
    warn = out["warn"]
    assert warn.status is Status.WARNING
    assert sorted(warn.rows)[0] == ((("perfdata", "age"), ("unit", "seconds")), 180.0)
    assert out["crit"].status is Status.CRITICAL and out["unk"].status is Status.UNKNOWN
    assert out["unk"].message == "QUEUE UNKNOWN - bad argument what"
    success = {n: [v for lb, v in svc.samples(svc.checks[n], o)
                   if dict(lb)["__name__"] == "guardia_check_status"] for n, o in out.items()}
    assert success == {"ok": [0.0], "warn": [1.0], "crit": [2.0], "unk": [3.0]}


async def test_a_plugin_past_its_timeout_is_killed(tmp_path: Path) -> None:
    svc = _service(tmp_path, _plugin("slow", "sleep", "1s"))
    t0 = time.monotonic()
    out = await svc.run_once("slow")
    assert not out.ok and out.message == "timed out after 1s" and time.monotonic() - t0 < 3
    # no sleeping plugin left behind
    assert not any("check_queue.sh" in _cmdline(p) for p in os.listdir("/proc") if p.isdigit())


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


async def test_a_missing_executable_is_a_failed_check(tmp_path: Path) -> None:
    svc = _service(tmp_path, "  - name: gone\n    command: {argv: [/nonexistent/check_x]}\n")
    out = await svc.run_once("gone")
    assert not out.ok and out.message.startswith("cannot run /nonexistent/check_x")


@pytest.mark.skipif(not os.path.exists("/usr/lib/nagios/plugins/check_disk"),
                    reason="monitoring-plugins-basic is not installed")
async def test_the_real_check_disk(tmp_path: Path) -> None:
    svc = _service(tmp_path, "  - name: disk_root\n    command: {argv: [/usr/lib/nagios/plugins/check_disk, "
                   "-w, '1%', -c, '0%', -p, /]}\n")
    out = await svc.run_once("disk_root")
    assert out.ok and out.status in (Status.OK, Status.WARNING, Status.CRITICAL)
    assert any(dict(lb).get("perfdata") == "/" for lb, _ in out.rows), out


def test_perfdata_edge_cases() -> None:
    assert parse_perfdata("'it''s'=1 bad U=U x=3c;;") == [((("perfdata", "it's"),), 1.0),
                                                          ((("perfdata", "x"), ("unit", "total")), 3.0)]
    o = parse_plugin_output("weird\n", 7, 0.1)
    assert o.status is Status.UNKNOWN and o.message.startswith("exit code 7")
