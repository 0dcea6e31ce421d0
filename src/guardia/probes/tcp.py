"""The tcp prober: connect (optionally over TLS), then the module's expect/send dialogue.

``query_response`` steps run in order: ``expect`` reads lines until one matches (its groups
fill ``${1}``... in the ``send`` of the same step), ``send`` writes a line, ``starttls``
upgrades the connection (SMTP, IMAP, POP3 STARTTLS).  A dialogue that does not go as written
sets ``probe_failed_due_to_regex``, as in the exporter.
"""

from __future__ import annotations

import asyncio
import re
import ssl

from guardia.probes.modules import Module
from guardia.probes.net import ResolveError, os_error_text, resolve, split_host_port
from guardia.probes.result import ProbeResult
from guardia.probes.tlsinfo import client_context, describe_ssl_error, record_tls

_GROUP_REF = re.compile(r"\$\{(\d+)\}|\$(\d+)")


def expand(template: str, match: re.Match[str] | None) -> str:
    """``PONG ${1}`` with the groups of the last ``expect`` match filled in."""
    if match is None:
        return template

    def repl(m: re.Match[str]) -> str:
        idx = int(m.group(1) or m.group(2))
        try:
            return match.group(idx) or ""
        except IndexError:
            return ""
    return _GROUP_REF.sub(repl, template)


async def probe_tcp(target: str, module: Module, result: ProbeResult) -> bool:
    cfg = module.tcp
    result.set("probe_failed_due_to_regex", 0)
    try:
        host, port = split_host_port(target)
    except ValueError as e:
        return result.fail(str(e))
    try:
        resolved = await resolve(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, result)
    except ResolveError as e:
        return result.fail(str(e))
    server_name = cfg.tls_config.server_name or host
    try:
        local = (cfg.source_ip_address, 0) if cfg.source_ip_address else None
        reader, writer = await asyncio.open_connection(resolved.ip, port, local_addr=local)
    except OSError as e:
        return result.fail(f"connection to {resolved.ip}:{port} failed: {os_error_text(e)}")
    try:
        if cfg.tls:
            try:
                await writer.start_tls(client_context(cfg.tls_config), server_hostname=server_name)
            except (ssl.SSLError, ssl.CertificateError) as e:
                return result.fail(describe_ssl_error(e, server_name))
            record_tls(writer.get_extra_info("ssl_object"), result)
        match: re.Match[str] | None = None
        for i, step in enumerate(cfg.query_response):
            if step.expect is not None:
                match = None
                while match is None:
                    try:
                        line = await reader.readline()
                    except (OSError, ValueError) as e:
                        result.set("probe_failed_due_to_regex", 1)
                        return result.fail(f"query_response[{i}]: reading failed: {e}")
                    if not line:
                        result.set("probe_failed_due_to_regex", 1)
                        return result.fail(f"query_response[{i}]: connection closed before a line "
                                           f"matched {step.expect.pattern!r}")
                    match = step.expect.search(line.decode("utf-8", "replace").rstrip("\r\n"))
            if step.send:
                writer.write((expand(step.send, match) + "\n").encode())
                try:
                    await writer.drain()
                except OSError as e:
                    return result.fail(f"query_response[{i}]: sending failed: {e.strerror or e}")
            if step.starttls:
                try:
                    await writer.start_tls(client_context(cfg.tls_config), server_hostname=server_name)
                except (ssl.SSLError, ssl.CertificateError) as e:
                    return result.fail(describe_ssl_error(e, server_name))
                record_tls(writer.get_extra_info("ssl_object"), result)
        return True
    finally:
        writer.close()
