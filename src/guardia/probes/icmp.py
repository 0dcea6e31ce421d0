"""The icmp prober: one echo request, timed as ``resolve``, ``setup`` and ``rtt``.

Unprivileged ICMP sockets (``SOCK_DGRAM``) are used where the kernel allows them to this
process's group (``net.ipv4.ping_group_range``); otherwise a raw socket, which needs root or
``CAP_NET_RAW``.  When neither is allowed the failure says which setting to change.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

from guardia.probes.modules import Module
from guardia.probes.net import ResolveError, resolve
from guardia.probes.result import ProbeResult

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_seq = 0


class ICMPPermissionError(Exception):
    pass


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def open_icmp_socket(family: int) -> tuple[socket.socket, bool]:
    """(socket, raw?) — an unprivileged ping socket if allowed, else a raw one."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    errors = []
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            return socket.socket(family, kind, proto), raw
        except PermissionError as e:
            errors.append(e)
    gid = os.getgid()
    raise ICMPPermissionError(
        f"ICMP is not allowed for this process (group id {gid}): unprivileged ping sockets need "
        f"sysctl net.ipv4.ping_group_range to include {gid} (e.g. sysctl -w "
        f"net.ipv4.ping_group_range='0 2147483647'), raw sockets need root or CAP_NET_RAW")


async def _recv(sock: socket.socket) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[bytes, list[tuple[int, int, bytes]]]] = loop.create_future()

    def ready() -> None:
        try:
            data, anc, _, _ = sock.recvmsg(65535, 256)
        except BlockingIOError:
            return
        except OSError as e:
            if not fut.done():
                fut.set_exception(e)
            return
        if not fut.done():
            fut.set_result((data, anc))

    loop.add_reader(sock.fileno(), ready)
    try:
        return await fut
    finally:
        loop.remove_reader(sock.fileno())


async def probe_icmp(target: str, module: Module, result: ProbeResult) -> bool:
    global _seq
    cfg = module.icmp
    for phase in ("resolve", "setup", "rtt"):
        result.set("probe_icmp_duration_seconds", 0, (("phase", phase),))
    host = target.strip().strip("[]")
    try:
        resolved = await resolve(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, result)
    except ResolveError as e:
        return result.fail(str(e))
    result.set("probe_icmp_duration_seconds", result.get("probe_dns_lookup_time_seconds") or 0.0,
               (("phase", "resolve"),))
    fam = resolved.family
    setup_started = time.perf_counter()
    try:
        sock, raw = open_icmp_socket(fam)
    except ICMPPermissionError as e:
        return result.fail(str(e))
    try:
        sock.setblocking(False)
        if fam == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, cfg.ttl)
            sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVTTL", 12), 1)
            if cfg.dont_fragment:
                sock.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, cfg.ttl)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        if cfg.source_ip_address:
            sock.bind((cfg.source_ip_address, 0))
        _seq = (_seq + 1) & 0xFFFF
        seq = _seq
        ident = os.getpid() & 0xFFFF
        payload = b"Prometheus Blackbox Exporter"[: cfg.payload_size] if cfg.payload_size else \
            b"Prometheus Blackbox Exporter"
        if cfg.payload_size > len(payload):
            payload = payload.ljust(cfg.payload_size, b"\0")
        header = struct.pack("!BBHHH", ECHO_REQUEST[fam], 0, 0, ident, seq)
        packet = header + payload
        if fam == socket.AF_INET:
            packet = struct.pack("!BBHHH", ECHO_REQUEST[fam], 0, checksum(packet), ident, seq) + payload
        result.set("probe_icmp_duration_seconds", time.perf_counter() - setup_started, (("phase", "setup"),))
        sent = time.perf_counter()
        try:
            sock.sendto(packet, (resolved.ip, 0))
        except OSError as e:
            return result.fail(f"sending ICMP echo to {resolved.ip} failed: {e.strerror or e}")
        while True:
            data, anc = await _recv(sock)
            hop = None
            if raw and fam == socket.AF_INET:
                hop = data[8]
                data = data[(data[0] & 0x0F) * 4:]
            for level, kind, value in anc:
                if (level, kind) in ((socket.IPPROTO_IP, socket.IP_TTL),
                                     (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)):
                    hop = int.from_bytes(value[:4], "little")
            if len(data) < 8 or data[0] != ECHO_REPLY[fam]:
                continue
            _, _, _, rid, rseq = struct.unpack("!BBHHH", data[:8])
            if rseq != seq or (raw and rid != ident):
                continue
            result.set("probe_icmp_duration_seconds", time.perf_counter() - sent, (("phase", "rtt"),))
            if hop is not None:
                result.set("probe_icmp_reply_hop_limit", hop)
            return True
    finally:
        sock.close()
