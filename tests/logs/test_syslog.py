"""Syslog: RFC 5424 / 3164 parsing, and Debian's rsyslog forwarding to the receiver (UDP, TCP)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from guardia.logs import LogStore
from guardia.logs.syslog import SyslogConfig, SyslogParseError, SyslogReceiver, parse_syslog
from guardia.model import Matcher


def test_rfc5424_with_structured_data_and_fractional_time() -> None:
    m = parse_syslog(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Appli\\"cation"] \xef\xbb\xbfAn application event'
    )
    assert (m.facility, m.severity) == ("local4", "notice")
    assert m.ts_ns == 1065910455_003_000_000
    assert (m.host, m.app, m.procid, m.msgid) == ("mymachine.example.com", "evntslog", "8710", "ID47")
    assert m.structured_data == {"exampleSDID@32473": {"iut": "3", "eventSource": 'Appli"cation'}}
    assert m.message == "An application event"


def test_rfc5424_nil_fields() -> None:
    m = parse_syslog(b"<34>1 2003-10-11T22:14:15+02:00 - - - - - su root failed")
    assert (m.facility, m.severity) == ("auth", "critical")
    assert m.ts_ns == 1065903255 * 1_000_000_000
    assert (m.host, m.app, m.message) == ("", "", "su root failed")


def test_rsyslog_forward_format_with_rfc3339_time() -> None:
    m = parse_syslog(b"<11>2023-12-04T03:00:00.123456+00:00 web1 shop[42]: order 1 failed")
    assert m.ts_ns == 1701658800_123_456_000
    assert (m.host, m.app, m.procid, m.message) == ("web1", "shop", "42", "order 1 failed")


def test_rfc3164_with_tag_and_pid() -> None:
    m = parse_syslog(b"<13>Feb  5 17:32:18 web1 nginx[1234]: upstream timed out", now=lambda: 1707150000.0)
    assert (m.facility, m.severity, m.host, m.app, m.procid) == ("user", "notice", "web1", "nginx", "1234")
    assert m.message == "upstream timed out"
    assert time.localtime(m.ts_ns // 1_000_000_000)[:6] == (2024, 2, 5, 17, 32, 18)


@pytest.mark.parametrize("bad", [b"no priority", b"<999>1 - - - - - - x", b"<13>1 2003-13-45 h a p m - x"])
def test_bad_messages_are_refused_with_the_reason(bad: bytes) -> None:
    with pytest.raises(SyslogParseError):
        parse_syslog(bad)


def _lines(store: LogStore, **labels: str) -> list[str]:
    out: list[str] = []
    for s in store.select([Matcher.equal(k, v) for k, v in labels.items()]):
        for p in store.read(s, 0, 1 << 62):
            out.extend(p.line(i).decode() for i in range(len(p)))
    return sorted(out)


async def test_relabel_configs_see_promtails_syslog_labels(tmp_path: Path) -> None:
    from guardia.logs.relabel import parse_relabel_configs

    def fail(where: str, msg: str) -> None:
        raise AssertionError(f"{where}: {msg}")

    rules = parse_relabel_configs([
        {"source_labels": ["__syslog_message_hostname"], "target_label": "host"},
        {"source_labels": ["__syslog_message_app_name"], "target_label": "service"},
        {"source_labels": ["__syslog_message_sd_origin_ip"], "target_label": "origin"},
        {"source_labels": ["__syslog_message_severity"], "regex": "debug", "action": "drop"},
    ], "relabel_configs", fail)
    store = LogStore(tmp_path / "logs")
    r = SyslogReceiver(store, SyslogConfig("127.0.0.1:0", "udp", (("job", "sys"),), flush_interval_s=0.05,
                                           relabel=rules))
    await r.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = r.address
    sock.sendto(b'<11>1 2024-01-01T00:00:00Z web1 shop 1 - [origin ip="10.0.0.1"] order failed', addr)
    sock.sendto(b"<15>1 2024-01-01T00:00:01Z web1 shop 1 - - chatty", addr)
    for _ in range(100):
        if store.select([Matcher.equal("job", "sys")]):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    await r.stop()
    assert [dict(s.labels) for s in store.select([Matcher.equal("job", "sys")])] == [
        {"job": "sys", "host": "web1", "service": "shop", "origin": "10.0.0.1"}]
    assert _lines(store, job="sys") == ["order failed"]
    store.close()


def _free_port(kind: int) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{inport}")
action(type="omfwd" target="127.0.0.1" port="{udp}" protocol="udp" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{tcp3164}" protocol="tcp" template="RSYSLOG_ForwardFormat")
"""


@pytest.mark.skipif(
    shutil.which("rsyslogd") is None, reason="Debian's rsyslog is not installed (scripts/system-packages.txt)"
)
async def test_rsyslog_forwards_over_udp_tcp_octet_counted_and_tcp_3164(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    receivers = [
        SyslogReceiver(store, SyslogConfig("127.0.0.1:0", "udp", (("job", "udp"),), flush_interval_s=0.05)),
        SyslogReceiver(store, SyslogConfig("127.0.0.1:0", "tcp", (("job", "tcp"),), flush_interval_s=0.05)),
        SyslogReceiver(
            store, SyslogConfig("127.0.0.1:0", "tcp", (("job", "tcp3164"),), flush_interval_s=0.05)
        ),
    ]
    for r in receivers:
        await r.start()
    inport = _free_port(socket.SOCK_DGRAM)
    work = tmp_path / "rsyslog"
    work.mkdir()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        RSYSLOG_CONF.format(
            work=work,
            inport=inport,
            udp=receivers[0].address[1],  # type: ignore[index]
            tcp=receivers[1].address[1],
            tcp3164=receivers[2].address[1],
        )
    )  # type: ignore[index]
    proc = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n = 50
        deadline = time.monotonic() + 20
        # rsyslog needs a moment to open its input; resend until the first line arrives
        while not _lines(store, job="tcp") and time.monotonic() < deadline:
            sender.sendto(b"<11>Dec  4 03:00:00 web1 shop[42]: warm-up", ("127.0.0.1", inport))
            await asyncio.sleep(0.2)
        for i in range(n):
            sender.sendto(
                f"<11>Dec  4 03:00:00 web1 shop[42]: order {i} failed".encode(), ("127.0.0.1", inport)
            )
        while time.monotonic() < deadline:
            got = [_lines(store, job=j) for j in ("udp", "tcp", "tcp3164")]
            if all(sum("order" in x for x in g) >= n for g in got):
                break
            await asyncio.sleep(0.1)
        for job in ("udp", "tcp", "tcp3164"):
            # rsyslog's MSG property keeps the space after "tag:" in the RFC 5424 formats
            lines = [x.lstrip() for x in _lines(store, job=job) if "order" in x]
            assert sorted(lines) == sorted(f"order {i} failed" for i in range(n)), job
        streams = store.select([Matcher.equal("job", "tcp")])
        labels = {k: v for k, v in streams[0].labels}
        assert labels["host"] == "web1" and labels["app"] == "shop"
        assert labels["severity"] == "error" and labels["facility"] == "user"
    finally:
        proc.terminate()
        proc.wait(10)
        for r in receivers:
            await r.stop()
        store.close()
