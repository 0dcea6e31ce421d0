"""The grpc prober: the standard ``grpc.health.v1.Health/Check`` call, as the exporter makes it.

grpcio is imported on first use, so a guardia that never probes gRPC does not load it.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from pathlib import Path
from typing import Any

from guardia.probes.modules import Module
from guardia.probes.net import ResolveError, resolve, split_host_port
from guardia.probes.result import ProbeResult
from guardia.probes.tlsinfo import client_context, record_tls

SERVING_STATUSES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")


def _credentials(module: Module) -> tuple[Any, list[tuple[str, str]]]:
    import grpc

    tls = module.grpc.tls_config
    root = None
    if tls.ca_file:
        root = Path(tls.ca_file).read_bytes()
    elif tls.ca:
        root = tls.ca.encode()
    key = cert = None
    if tls.cert_file and tls.key_file:
        cert, key = Path(tls.cert_file).read_bytes(), Path(tls.key_file).read_bytes()
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    return grpc.ssl_channel_credentials(root, key, cert), options


async def _record_certificate(ip: str, port: int, server_name: str, module: Module,
                              result: ProbeResult) -> None:
    """The ``probe_ssl_*`` and ``probe_tls_version_info`` gauges of a TLS gRPC target.

    grpcio keeps the peer's certificate chain to itself, so it is read from a second handshake
    with the same trust settings and ALPN ``h2``: the server answers it with the chain it gave
    the health check a moment before.  A failing second handshake costs the gauges only, not
    the probe, whose verdict the health check already gave."""
    import asyncio

    try:
        ctx = client_context(module.grpc.tls_config, alpn=("h2",))
        _, writer = await asyncio.open_connection(ip, port, ssl=ctx, server_hostname=server_name)
    except (OSError, ssl.SSLError) as e:
        result.observed["tls_details"] = f"certificate not read: {e}"
        return
    try:
        record_tls(writer.get_extra_info("ssl_object"), result)
        # the exporter's grpc prober has no verified-chain gauge (its http and tcp probers do)
        result.gauges.pop("probe_ssl_last_chain_expiry_timestamp_seconds", None)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def probe_grpc(target: str, module: Module, result: ProbeResult) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    cfg = module.grpc
    result.set("probe_grpc_duration_seconds", 0, (("phase", "resolve"),))
    result.set("probe_grpc_duration_seconds", 0, (("phase", "check"),))
    for status in SERVING_STATUSES:
        result.set("probe_grpc_healthcheck_response", 0, (("serving_status", status),))
    result.set("probe_grpc_ssl", 0)
    result.set("probe_grpc_status_code", 0)
    result.set("probe_ssl_earliest_cert_expiry", 0)
    if "://" in target:
        target = target.split("://", 1)[1]
    try:
        host, port = split_host_port(target.rstrip("/"), 443 if cfg.tls else 80)
        resolved = await resolve(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, result)
    except (ValueError, ResolveError) as e:
        return result.fail(str(e))
    result.set("probe_grpc_duration_seconds", result.get("probe_dns_lookup_time_seconds") or 0.0,
               (("phase", "resolve"),))
    addr = f"[{resolved.ip}]:{port}" if resolved.version == 6 else f"{resolved.ip}:{port}"
    if cfg.tls:
        try:
            creds, options = _credentials(module)
        except OSError as e:
            return result.fail(f"cannot read the gRPC TLS files: {e}")
        if not cfg.tls_config.server_name:
            options.append(("grpc.ssl_target_name_override", host))
        channel = grpc.aio.secure_channel(addr, creds, options=options)
    else:
        channel = grpc.aio.insecure_channel(addr)
    started = time.perf_counter()
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=cfg.service))
        except grpc.aio.AioRpcError as e:
            code = e.code()
            result.set("probe_grpc_status_code", code.value[0])
            return result.fail(f"gRPC health check of {addr} failed: {code.name}: {e.details()}")
        finally:
            result.set("probe_grpc_duration_seconds", time.perf_counter() - started, (("phase", "check"),))
    finally:
        await channel.close()
    if cfg.tls:
        result.set("probe_grpc_ssl", 1)
        await _record_certificate(resolved.ip, port, cfg.tls_config.server_name or host, module, result)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    result.set("probe_grpc_healthcheck_response", 1, (("serving_status", status),))
    result.observed["grpc_status"] = status
    if status != "SERVING":
        return result.fail(f"gRPC service {cfg.service or '(server)'} is {status}")
    return True
