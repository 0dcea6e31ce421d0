"""The http prober: the exporter's ``http`` module semantics on ``httpwire`` exchanges.

A target without a scheme is ``http://``.  The host is resolved once by ``net.resolve`` (the
exporter's ``resolve`` phase); redirects are followed up to ten, their own lookups added to
``resolve``; each phase is summed over the redirects.  The answer is judged in the
exporter's order: status code, HTTP version, SSL, body and header regexes.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import time
from pathlib import Path
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from guardia.config.httpclient import authorization_header
from guardia.probes import oauth2
from guardia.probes.httpwire import HTTPWireError, Proxy, Response, Timings, exchange
from guardia.probes.modules import HTTPProbe, Module
from guardia.probes.net import ResolveError, resolve
from guardia.probes.result import ProbeResult
from guardia.probes.tlsinfo import client_context, record_tls

PHASES = ("resolve", "connect", "tls", "processing", "transfer")
MAX_REDIRECTS = 10
USER_AGENT = "Blackbox Exporter/guardia"


def _phase(result: ProbeResult, phase: str, seconds: float) -> None:
    result.add("probe_http_duration_seconds", seconds, (("phase", phase),))


def _proxy(cfg: HTTPProbe) -> Proxy | None:
    if not cfg.proxy_url:
        return None
    u = urlsplit(cfg.proxy_url)
    auth = None
    if u.username is not None:
        cred = f"{unquote(u.username)}:{unquote(u.password or '')}".encode()
        auth = "Basic " + base64.b64encode(cred).decode()
    return Proxy(u.hostname or "", u.port or 80, auth)


async def _headers(cfg: HTTPProbe) -> list[tuple[str, str]]:
    hdrs: list[tuple[str, str]] = []
    names = {k.lower() for k in cfg.headers}
    if "user-agent" not in names:
        hdrs.append(("User-Agent", USER_AGENT))
    if cfg.compression and "accept-encoding" not in names:
        hdrs.append(("Accept-Encoding", cfg.compression))
    auth = authorization_header(cfg)
    if auth is None and cfg.oauth2 is not None:
        auth = await oauth2.token_header(cfg.oauth2)
    if auth is not None and "authorization" not in names:
        hdrs.append(("Authorization", auth))
    hdrs.extend(cfg.headers.items())
    return hdrs


def _body(cfg: HTTPProbe) -> bytes:
    if cfg.body_file:
        return Path(cfg.body_file).read_bytes()
    return cfg.body.encode()


async def probe_http(target: str, module: Module, result: ProbeResult) -> bool:
    cfg = module.http
    for phase in PHASES:
        _phase(result, phase, 0.0)
    for name in ("probe_http_content_length", "probe_http_uncompressed_body_length",
                 "probe_http_redirects", "probe_http_ssl", "probe_http_status_code",
                 "probe_http_version", "probe_failed_due_to_regex"):
        result.set(name, 0)
    if "://" not in target:
        target = "http://" + target
    url = urlsplit(target)
    if url.scheme not in ("http", "https") or not url.hostname:
        return result.fail(f"target {target!r} is not an http(s) URL")
    proxy = _proxy(cfg)
    host = url.hostname
    ip = host
    if proxy is None or not cfg.skip_resolve_phase_with_proxy:
        try:
            resolved = await resolve(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, result)
        except ResolveError as e:
            return result.fail(str(e))
        ip = resolved.ip
        _phase(result, "resolve", result.get("probe_dns_lookup_time_seconds") or 0.0)
    try:
        headers = await _headers(cfg)
    except (oauth2.OAuth2Error, OSError) as e:
        return result.fail(str(e))
    method = cfg.method.upper()
    try:
        body = _body(cfg)
    except OSError as e:
        return result.fail(f"cannot read body_file {cfg.body_file}: {e.strerror or e}")
    tls_ctx = client_context(cfg.tls_config)
    server_name = cfg.tls_config.server_name
    redirects = 0
    resp: Response | None = None
    while True:
        timings = Timings()
        try:
            resp = await exchange(url, ip, method=method, headers=headers, body=body,
                                  tls_context=tls_ctx, server_name=server_name or host, proxy=proxy,
                                  body_limit=cfg.body_size_limit, timings=timings)
        except HTTPWireError as e:
            return result.fail(str(e))
        finally:
            for phase in PHASES[1:]:
                _phase(result, phase, getattr(timings, phase))
        location = resp.header("Location")
        if not (resp.status in (301, 302, 303, 307, 308) and location):
            break
        # counted as Go's client counts it: a redirect answered is one, followed or not
        redirects += 1
        if not cfg.follows_redirects:
            break
        if redirects > MAX_REDIRECTS:
            result.set("probe_http_redirects", redirects)
            return result.fail(f"stopped after {MAX_REDIRECTS} redirects")
        next_url: SplitResult = urlsplit(urljoin(url.geturl(), location))
        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
            method, body = "GET", b""
        if next_url.hostname != host:
            host = next_url.hostname or ""
            server_name = None
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
            if proxy is None or not cfg.skip_resolve_phase_with_proxy:
                started = time.perf_counter()
                try:
                    resolved = await resolve(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback,
                                             ProbeResult())
                except ResolveError as e:
                    return result.fail(str(e))
                _phase(result, "resolve", time.perf_counter() - started)
                ip = resolved.ip
            else:
                ip = host
        url = next_url
    result.set("probe_http_redirects", redirects)
    return judge(resp, cfg, result)


def judge(resp: Response, cfg: HTTPProbe, result: ProbeResult) -> bool:
    """Set the response gauges and decide success as the exporter does."""
    result.set("probe_http_status_code", resp.status)
    result.set("probe_http_content_length", resp.content_length)
    result.set("probe_http_uncompressed_body_length", len(resp.body))
    version = resp.version.removeprefix("HTTP/")
    try:
        result.set("probe_http_version", float(version))
    except ValueError:
        result.set("probe_http_version", 0)
    result.observed.update(status=resp.status, body=resp.body, headers=resp.headers)
    last_mod = resp.header("Last-Modified")
    if last_mod:
        with contextlib.suppress(TypeError, ValueError):
            result.set("probe_http_last_modified_timestamp_seconds",
                       email.utils.parsedate_to_datetime(last_mod).timestamp())
    if resp.tls:
        result.set("probe_http_ssl", 1)
        record_tls(resp.ssl_object, result)
    ok = True
    valid = cfg.valid_status_codes
    if (resp.status not in valid) if valid else not 200 <= resp.status < 300:
        want = ", ".join(map(str, valid)) if valid else "2xx"
        ok = result.fail(f"HTTP status {resp.status} is not one of the valid status codes ({want})")
    if ok and cfg.valid_http_versions and resp.version not in cfg.valid_http_versions:
        ok = result.fail(f"HTTP version {resp.version} is not one of {', '.join(cfg.valid_http_versions)}")
    if ok and cfg.fail_if_ssl and resp.tls:
        ok = result.fail("final response used TLS and fail_if_ssl is set")
    if ok and cfg.fail_if_not_ssl and not resp.tls:
        ok = result.fail("final response did not use TLS and fail_if_not_ssl is set")
    if ok and cfg.uses_regex:
        reason = _regex_failure(resp, cfg)
        if reason:
            result.set("probe_failed_due_to_regex", 1)
            ok = result.fail(reason)
    return ok


def _regex_failure(resp: Response, cfg: HTTPProbe) -> str:
    text = resp.body.decode("utf-8", "replace")
    for rx in cfg.fail_if_body_matches_regexp:
        if rx.search(text):
            return f"body matched regular expression {rx.pattern!r}"
    for rx in cfg.fail_if_body_not_matches_regexp:
        if not rx.search(text):
            return f"body did not match regular expression {rx.pattern!r}"
    for m in cfg.fail_if_header_matches:
        values = resp.header_values(m.header)
        if not values and not m.allow_missing:
            return f"header {m.header} is missing"
        if any(m.regexp.search(v) for v in values):
            return f"header {m.header} matched regular expression {m.regexp.pattern!r}"
    for m in cfg.fail_if_header_not_matches:
        values = resp.header_values(m.header)
        if not values:
            if not m.allow_missing:
                return f"header {m.header} is missing"
            continue
        if not any(m.regexp.search(v) for v in values):
            return f"header {m.header} did not match regular expression {m.regexp.pattern!r}"
    return ""
