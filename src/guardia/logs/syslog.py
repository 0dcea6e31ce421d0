"""Syslog receiver: RFC 5424 and RFC 3164 messages over UDP and TCP, into the log store.

rsyslog, syslog-ng and network devices forward here.  TCP accepts both framings of RFC 6587
(octet counting, ``LEN SP MSG``, and newline-terminated), detected per message.  A message
becomes one line (its MSG part) in the stream of its static labels plus ``host``, ``app``,
``severity`` and ``facility``; its own timestamp is kept unless ``use_incoming_timestamp`` is
off.  Messages are pushed in batches (every ``flush_interval`` or ``batch_size`` messages),
so a flood of small datagrams costs one store append per batch, not per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from guardia.config.relabel import RelabelConfig
from guardia.logs.errors import LogsError
from guardia.logs.relabel import relabeled
from guardia.logs.store import LogStore, PushStream
from guardia.model.labels import Labels

log = logging.getLogger("guardia.logs.syslog")

SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
MAX_MESSAGE = 64 << 10


class SyslogParseError(LogsError):
    """Bytes that are neither an RFC 5424 nor an RFC 3164 message."""


@dataclass(slots=True)
class SyslogMessage:
    facility: str
    severity: str
    ts_ns: int | None
    host: str
    app: str
    procid: str
    msgid: str
    message: str
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)


_PRI = re.compile(rb"<(\d{1,3})>")
_3164 = re.compile(
    r"(?:(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)"
    r"|(?P<ts3339>\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d))) "
    r"(?:(?P<host>[^\s:\[]+) )?"
    r"(?:(?P<tag>[^\s:\[]{1,48})(?:\[(?P<pid>[^\]]*)\])?: ?)?(?P<msg>.*)",
    re.S,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _nil(s: str) -> str:
    return "" if s == "-" else s


def _rfc3339_ns(s: str) -> int | None:
    if s == "-":
        return None
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise SyslogParseError(f"invalid RFC 5424 timestamp {s!r}")
    base = dt.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = (m.group(2) or "").ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac or 0)


def _structured_data(s: str) -> tuple[dict[str, dict[str, str]], str]:
    """(elements, rest of the message) of an RFC 5424 STRUCTURED-DATA field."""
    if s.startswith("-"):
        return {}, s[2:] if s.startswith("- ") else s[1:]
    out: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(s) and s[pos] == "[":
        end_id = pos + 1
        while end_id < len(s) and s[end_id] not in " ]":
            end_id += 1
        sd_id = s[pos + 1 : end_id]
        params: dict[str, str] = {}
        pos = end_id
        while pos < len(s) and s[pos] == " ":
            pos += 1
            eq = s.find("=", pos)
            if eq < 0 or eq + 1 >= len(s) or s[eq + 1] != '"':
                raise SyslogParseError("invalid structured data parameter")
            name = s[pos:eq]
            pos = eq + 2
            val: list[str] = []
            while pos < len(s) and s[pos] != '"':
                if s[pos] == "\\" and pos + 1 < len(s) and s[pos + 1] in '"\\]':
                    pos += 1
                val.append(s[pos])
                pos += 1
            params[name] = "".join(val)
            pos += 1
        if pos >= len(s) or s[pos] != "]":
            raise SyslogParseError("unterminated structured data element")
        pos += 1
        out[sd_id] = params
    rest = s[pos:]
    return out, rest[1:] if rest.startswith(" ") else rest


def parse_syslog(data: bytes, now: Callable[[], float] = time.time) -> SyslogMessage:
    m = _PRI.match(data)
    if not m:
        raise SyslogParseError("a syslog message starts with <PRI>, e.g. <34>")
    pri = int(m.group(1))
    if pri > 191:
        raise SyslogParseError(f"priority {pri} is out of range (0-191)")
    facility, severity = FACILITIES[pri >> 3], SEVERITIES[pri & 7]
    text = data[m.end() :].decode("utf-8", "replace").rstrip("\r\n\x00")
    if text[:2] == "1 ":
        parts = text[2:].split(" ", 5)
        if len(parts) < 6:
            raise SyslogParseError("RFC 5424 message needs TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD")
        ts, host, app, procid, msgid, rest = parts
        sd, msg = _structured_data(rest)
        if msg.startswith("\ufeff"):
            msg = msg[1:]
        return SyslogMessage(
            facility, severity, _rfc3339_ns(ts), _nil(host), _nil(app), _nil(procid), _nil(msgid), msg, sd
        )
    mm = _3164.match(text)
    if not mm:
        return SyslogMessage(facility, severity, None, "", "", "", "", text)
    if mm.group("ts3339"):
        # rsyslog's RSYSLOG_ForwardFormat: the BSD layout with an RFC 3339 timestamp
        return SyslogMessage(
            facility,
            severity,
            _rfc3339_ns(mm.group("ts3339")),
            mm.group("host") or "",
            mm.group("tag") or "",
            mm.group("pid") or "",
            "",
            mm.group("msg"),
        )
    ts_text = mm.group("ts")
    month, day, clock = ts_text[:3], int(ts_text[4:6]), ts_text[7:]
    h, mi, sec = (int(x) for x in clock.split(":"))
    year = time.localtime(now()).tm_year
    local = time.mktime((year, _MONTHS[month], day, h, mi, sec, 0, 0, -1))
    if local > now() + 86400:  # December's messages read in January
        local = time.mktime((year - 1, _MONTHS[month], day, h, mi, sec, 0, 0, -1))
    return SyslogMessage(
        facility,
        severity,
        int(local) * 1_000_000_000,
        mm.group("host") or "",
        mm.group("tag") or "",
        mm.group("pid") or "",
        "",
        mm.group("msg"),
    )


@dataclass(frozen=True)
class SyslogConfig:
    listen_address: str
    protocol: str = "tcp"  # tcp, udp
    labels: tuple[tuple[str, str], ...] = (("job", "syslog"),)
    use_incoming_timestamp: bool = True
    label_structured_data: bool = False
    batch_size: int = 1000
    flush_interval_s: float = 0.2
    relabel: tuple[RelabelConfig, ...] = ()


class _Batcher:
    def __init__(self, store: LogStore, cfg: SyslogConfig) -> None:
        self.store = store
        self.cfg = cfg
        self.pending: dict[Labels, tuple[list[int], list[bytes]]] = {}
        self.count = 0
        self.received = 0
        self.errors = 0

    def add(self, data: bytes) -> None:
        try:
            msg = parse_syslog(data)
        except SyslogParseError as e:
            self.errors += 1
            if self.errors <= 10 or self.errors % 1000 == 0:
                log.warning("event=syslog_parse_error error=%r errors_total=%d", str(e), self.errors)
            return
        if self.cfg.relabel:
            kept = self._relabeled(msg)
            if kept is None:
                return
            pairs = kept
        else:
            pairs = self._labels(msg)
        labels = Labels(pairs)
        ts = msg.ts_ns if (msg.ts_ns is not None and self.cfg.use_incoming_timestamp) else time.time_ns()
        slot = self.pending.get(labels)
        if slot is None:
            slot = self.pending[labels] = ([], [])
        slot[0].append(ts)
        slot[1].append(msg.message.encode())
        self.count += 1
        self.received += 1

    def _relabeled(self, msg: SyslogMessage) -> dict[str, str] | None:
        """Promtail's ``__syslog_*`` labels through the job's relabel_configs."""
        meta = dict(self.cfg.labels)
        for k, v in (
            ("__syslog_message_hostname", msg.host),
            ("__syslog_message_app_name", msg.app),
            ("__syslog_message_severity", msg.severity),
            ("__syslog_message_facility", msg.facility),
            ("__syslog_message_proc_id", msg.procid),
            ("__syslog_message_msg_id", msg.msgid),
        ):
            if v:
                meta[k] = v
        for sd_id, params in msg.structured_data.items():
            for k, v in params.items():
                meta[_label_name(f"__syslog_message_sd_{sd_id}_{k}")] = v
        return relabeled(meta, self.cfg.relabel)

    def _labels(self, msg: SyslogMessage) -> dict[str, str]:
        pairs = dict(self.cfg.labels)
        for k, v in (
            ("host", msg.host),
            ("app", msg.app),
            ("severity", msg.severity),
            ("facility", msg.facility),
        ):
            if v:
                pairs[k] = v
        if self.cfg.label_structured_data:
            for sd_id, params in msg.structured_data.items():
                for k, v in params.items():
                    pairs[_label_name(f"sd_{sd_id}_{k}")] = v
        return pairs
        if self.count >= self.cfg.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch = [PushStream(lb, ts, lines) for lb, (ts, lines) in self.pending.items()]
        self.pending = {}
        self.count = 0
        try:
            self.store.push(batch)
        except LogsError as e:
            log.warning("event=syslog_push_refused error=%r", str(e))


def _label_name(s: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9_]", "_", s)
    return "_" + s if s[:1].isdigit() else s


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, batcher: _Batcher) -> None:
        self.batcher = batcher

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.batcher.add(data)


class SyslogReceiver:
    """One listener (UDP or TCP) feeding the store."""

    def __init__(self, store: LogStore, cfg: SyslogConfig) -> None:
        self.cfg = cfg
        self.batcher = _Batcher(store, cfg)
        self._transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] | None = None

    async def start(self) -> None:
        host, _, port = self.cfg.listen_address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        loop = asyncio.get_running_loop()
        if self.cfg.protocol == "udp":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self.batcher), local_addr=(host, int(port))
            )
            self._transport = transport
            self.address = transport.get_extra_info("sockname")[:2]
        else:
            self._server = await asyncio.start_server(self._conn, host, int(port), limit=MAX_MESSAGE * 2)
            self.address = self._server.sockets[0].getsockname()[:2]
        self._flusher = asyncio.create_task(self._flush_loop(), name="syslog-flush")
        log.info("event=syslog_listening protocol=%s address=%s:%s", self.cfg.protocol, *self.address)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.flush_interval_s)
            self.batcher.flush()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            while True:
                first = await reader.read(1)
                if not first:
                    break
                if first.isdigit():
                    digits = first + await reader.readuntil(b" ")
                    n = int(digits[:-1])
                    if n > MAX_MESSAGE:
                        log.warning("event=syslog_frame_too_large bytes=%d", n)
                        break
                    self.batcher.add(await reader.readexactly(n))
                elif first in (b"\n", b"\r", b"\x00"):
                    continue
                else:
                    line = first + await reader.readuntil(b"\n")
                    self.batcher.add(line)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._conns.discard(task)

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self.batcher.flush()


__all__ = ["SyslogConfig", "SyslogMessage", "SyslogParseError", "SyslogReceiver", "parse_syslog"]
