"""The websocket prober: open a WebSocket (ws:// or wss://), optionally send and expect a message.

The exporter has no WebSocket prober; teams serving real-time channels (the GRUPO_GAD
backend) need the handshake itself checked from outside, not just the HTTP port.  Metrics
follow the exporter's naming: ``probe_websocket_duration_seconds{phase}`` with ``connect``
(TCP + TLS + upgrade) and ``message`` (round trip), plus the common ``probe_ip_*`` gauges.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from guardia.probes.modules import Module
from guardia.probes.net import ResolveError, resolve
from guardia.probes.result import ProbeResult
from guardia.probes.tlsinfo import client_context, describe_ssl_error, record_tls


async def probe_websocket(target: str, module: Module, result: ProbeResult) -> bool:
    import ssl

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    cfg = module.websocket
    for phase in ("connect", "message"):
        result.set("probe_websocket_duration_seconds", 0, (("phase", phase),))
    if "://" not in target:
        target = "ws://" + target
    url = urlsplit(target)
    if url.scheme not in ("ws", "wss") or not url.hostname:
        return result.fail(f"target {target!r} is not a ws:// or wss:// URL")
    try:
        resolved = await resolve(url.hostname, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, result)
    except ResolveError as e:
        return result.fail(str(e))
    port = url.port or (443 if url.scheme == "wss" else 80)
    tls = url.scheme == "wss"
    started = time.perf_counter()
    try:
        ws = await connect(
            target,
            host=resolved.ip,
            port=port,
            ssl=client_context(cfg.tls_config) if tls else None,
            server_hostname=(cfg.tls_config.server_name or url.hostname) if tls else None,
            additional_headers=dict(cfg.headers),
            subprotocols=list(cfg.subprotocols) or None,  # type: ignore[arg-type]
            open_timeout=None,
            compression=None,
        )
    except InvalidStatus as e:
        result.set("probe_websocket_duration_seconds", time.perf_counter() - started, (("phase", "connect"),))
        result.observed["status"] = e.response.status_code
        return result.fail(f"WebSocket upgrade refused with HTTP status {e.response.status_code}")
    except (ssl.SSLError, ssl.CertificateError) as e:
        return result.fail(describe_ssl_error(e, url.hostname))
    except (OSError, WebSocketException) as e:
        return result.fail(f"WebSocket connection to {target} failed: {e}")
    try:
        result.set("probe_websocket_duration_seconds", time.perf_counter() - started, (("phase", "connect"),))
        result.observed["status"] = 101
        if tls:
            record_tls(ws.transport.get_extra_info("ssl_object"), result)
        if not cfg.send and cfg.expect is None:
            return True
        sent = time.perf_counter()
        try:
            if cfg.send:
                await ws.send(cfg.send)
            if cfg.expect is not None:
                result.set("probe_websocket_message_received", 0)
                while True:
                    msg = await ws.recv()
                    text = msg if isinstance(msg, str) else msg.decode("utf-8", "replace")
                    if cfg.expect.search(text):
                        result.set("probe_websocket_message_received", 1)
                        result.observed["body"] = text.encode()
                        break
        except WebSocketException as e:
            return result.fail(f"WebSocket closed before a message matched: {e}")
        result.set("probe_websocket_duration_seconds", time.perf_counter() - sent, (("phase", "message"),))
        return True
    finally:
        await ws.close()
