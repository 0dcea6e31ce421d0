"""The dns prober: one query to the target server, judged by rcode and answer patterns.

Resource records are matched in the zone-file form the exporter (and ``dig``) prints,
``name<TAB>ttl<TAB>class<TAB>type<TAB>data``, so a module's ``validate_answer_rrs`` patterns
written for the exporter match the same records here.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time

from guardia.probes.modules import DNSProbe, Module, RRValidator
from guardia.probes.net import ResolveError, resolve, split_host_port
from guardia.probes.result import ProbeResult
from guardia.probes.tlsinfo import client_context, describe_ssl_error, record_tls


class _UDPQuery(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


def rr_text(rr: object) -> str:
    from dnslib import CLASS, QTYPE

    r = rr  # dnslib.RR
    return (f"{r.rname}\t{r.ttl}\t{CLASS.get(r.rclass)}\t{QTYPE.get(r.rtype)}\t"  # type: ignore[attr-defined]
            f"{r.rdata.toZone()}")  # type: ignore[attr-defined]


def _validate(kind: str, rrs: list[object], v: RRValidator) -> str:
    texts = [rr_text(rr) for rr in rrs]
    for rx in v.fail_if_matches_regexp:
        for t in texts:
            if rx.search(t):
                return f"{kind} record {t!r} matched {rx.pattern!r} (fail_if_matches_regexp)"
    for rx in v.fail_if_all_match_regexp:
        if texts and all(rx.search(t) for t in texts):
            return f"every {kind} record matched {rx.pattern!r} (fail_if_all_match_regexp)"
    for rx in v.fail_if_not_matches_regexp:
        for t in texts:
            if not rx.search(t):
                return f"{kind} record {t!r} did not match {rx.pattern!r} (fail_if_not_matches_regexp)"
    for rx in v.fail_if_none_matches_regexp:
        if not any(rx.search(t) for t in texts):
            return f"no {kind} record matched {rx.pattern!r} (fail_if_none_matches_regexp)"
    return ""


def build_query(cfg: DNSProbe) -> bytes:
    from dnslib import DNSRecord

    q = DNSRecord.question(cfg.query_name, cfg.query_type.upper(), cfg.query_class.upper())
    q.header.rd = 1 if cfg.recursion_desired else 0
    return bytes(q.pack())


async def _exchange(cfg: DNSProbe, ip: str, port: int, family: int, query: bytes, server_name: str,
                    result: ProbeResult) -> tuple[bytes, float]:
    """(answer bytes, connect seconds)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    if cfg.transport_protocol == "udp" and not cfg.dns_over_tls:
        local = (cfg.source_ip_address, 0) if cfg.source_ip_address else None
        transport, proto = await loop.create_datagram_endpoint(
            _UDPQuery, remote_addr=(ip, port), family=family, local_addr=local)
        connected = time.perf_counter() - started
        try:
            transport.sendto(query)
            return await proto.answer, connected
        finally:
            transport.close()
    reader, writer = await asyncio.open_connection(ip, port)
    try:
        if cfg.dns_over_tls:
            await writer.start_tls(client_context(cfg.tls_config), server_hostname=server_name)
            record_tls(writer.get_extra_info("ssl_object"), result)
        connected = time.perf_counter() - started
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(length), connected
    finally:
        writer.close()


def _phase(result: ProbeResult, phase: str, seconds: float) -> None:
    result.set("probe_dns_duration_seconds", seconds, (("phase", phase),))


async def probe_dns(target: str, module: Module, result: ProbeResult) -> bool:
    # dnslib is imported where it is used, as the prober's other protocols import theirs: a
    # server that runs no DNS probe does not keep it resident
    from dnslib import QTYPE, RCODE, DNSError, DNSRecord

    cfg = module.dns
    for phase in ("resolve", "connect", "request"):
        _phase(result, phase, 0.0)
    for name in ("probe_dns_answer_rrs", "probe_dns_authority_rrs", "probe_dns_additional_rrs",
                 "probe_dns_query_succeeded"):
        result.set(name, 0)
    try:
        host, port = split_host_port(target, 853 if cfg.dns_over_tls else 53)
    except ValueError as e:
        return result.fail(str(e))
    try:
        resolved = await resolve(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, result)
    except ResolveError as e:
        return result.fail(str(e))
    _phase(result, "resolve", result.get("probe_dns_lookup_time_seconds") or 0.0)
    try:
        query = build_query(cfg)
    except (DNSError, ValueError, KeyError) as e:
        return result.fail(f"cannot build a {cfg.query_type} query for {cfg.query_name!r}: {e}")
    started = time.perf_counter()
    try:
        raw, connected = await _exchange(cfg, resolved.ip, port, resolved.family, query,
                                         cfg.tls_config.server_name or host, result)
    except (ssl.SSLError, ssl.CertificateError) as e:
        return result.fail(describe_ssl_error(e, host))
    except (OSError, asyncio.IncompleteReadError) as e:
        return result.fail(f"DNS query to {resolved.ip}:{port} failed: {getattr(e, 'strerror', None) or e}")
    _phase(result, "connect", connected)
    _phase(result, "request", time.perf_counter() - started - connected)
    try:
        answer = DNSRecord.parse(raw)
    except DNSError as e:
        return result.fail(f"malformed DNS answer from {resolved.ip}:{port}: {e}")
    result.set("probe_dns_query_succeeded", 1)
    result.set("probe_dns_answer_rrs", len(answer.rr))
    result.set("probe_dns_authority_rrs", len(answer.auth))
    result.set("probe_dns_additional_rrs", len(answer.ar))
    for rr in answer.rr:
        if rr.rtype == QTYPE.SOA:
            result.set("probe_dns_serial", rr.rdata.times[0])
    rcode = RCODE.get(answer.header.rcode)
    result.observed.update(dns_rcode=rcode, body=b"\n".join(rr_text(rr).encode() for rr in answer.rr))
    valid = [r.upper() for r in cfg.valid_rcodes] or ["NOERROR"]
    if rcode not in valid:
        return result.fail(f"DNS rcode {rcode} is not one of the valid rcodes ({', '.join(valid)})")
    for kind, rrs, v in (("answer", answer.rr, cfg.validate_answer_rrs),
                         ("authority", answer.auth, cfg.validate_authority_rrs),
                         ("additional", answer.ar, cfg.validate_additional_rrs)):
        reason = _validate(kind, list(rrs), v)
        if reason:
            return result.fail(reason)
    return True



