"""Resolving a probe's target the way the Blackbox exporter does, and splitting targets.

The exporter resolves the host itself (preferring IPv6 unless told otherwise, falling back to
the other family), times the lookup as ``probe_dns_lookup_time_seconds`` and connects to the
address it chose; ``probe_ip_addr_hash`` (FNV-1a of the address bytes) changes when DNS moves
the target, which is what alerts on unexpected address changes key on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from dataclasses import dataclass

from guardia.probes.result import ProbeResult


class ResolveError(Exception):
    """The target's name did not resolve to an address of an allowed family."""


@dataclass(frozen=True, slots=True)
class Resolved:
    ip: str
    family: int  # socket.AF_INET or socket.AF_INET6

    @property
    def version(self) -> int:
        return 6 if self.family == socket.AF_INET6 else 4


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _literal(host: str) -> Resolved | None:
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return Resolved(str(addr), socket.AF_INET6 if addr.version == 6 else socket.AF_INET)


async def resolve(host: str, preferred: str, fallback: bool, result: ProbeResult,
                  metric: str = "probe_dns_lookup_time_seconds") -> Resolved:
    """The address to probe, recording lookup time, IP protocol and address hash on ``result``.

    ``preferred`` is the module's ``preferred_ip_protocol`` (``ip4``/``ip6``, ``tcp4``... read
    by their last digit); without ``fallback`` only that family is accepted.
    """
    want6 = not preferred.endswith("4")
    started = time.perf_counter()
    chosen = _literal(host)
    if chosen is None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            result.set(metric, time.perf_counter() - started)
            raise ResolveError(f"cannot resolve {host}: {e.strerror or e}") from None
        first = {socket.AF_INET6: None, socket.AF_INET: None}
        for fam, _, _, _, sockaddr in infos:
            if fam in first and first[fam] is None:
                first[fam] = sockaddr[0]  # type: ignore[assignment]
        fam_want = socket.AF_INET6 if want6 else socket.AF_INET
        fam_other = socket.AF_INET if want6 else socket.AF_INET6
        if first[fam_want] is not None:
            chosen = Resolved(str(first[fam_want]), fam_want)
        elif fallback and first[fam_other] is not None:
            chosen = Resolved(str(first[fam_other]), fam_other)
        else:
            result.set(metric, time.perf_counter() - started)
            raise ResolveError(f"{host} has no {'IPv6' if want6 else 'IPv4'} address "
                               f"(preferred_ip_protocol: {preferred or 'ip6'}, ip_protocol_fallback off)")
    elif not fallback and (chosen.family == socket.AF_INET6) != want6:
        result.set(metric, time.perf_counter() - started)
        raise ResolveError(f"{host} is not an {'IPv6' if want6 else 'IPv4'} address "
                           f"(preferred_ip_protocol: {preferred}, ip_protocol_fallback off)")
    result.set(metric, time.perf_counter() - started)
    result.set("probe_ip_protocol", chosen.version)
    result.set("probe_ip_addr_hash", fnv32a(ipaddress.ip_address(chosen.ip).packed))
    return chosen


def split_host_port(target: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` → (host, port); a missing port takes ``default_port``."""
    t = target.strip()
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ""
    elif t.count(":") == 1:
        host, _, port_s = t.partition(":")
    else:
        host, port_s = t, ""
    if not port_s:
        if default_port is None:
            raise ValueError(f"target {target!r} needs a port (host:port)")
        return host, default_port
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ValueError(f"target {target!r} has an invalid port {port_s!r}")
    return host, int(port_s)



def os_error_text(e: BaseException) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('127.0.0.1', 1)``."""
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    return str(e) or type(e).__name__
