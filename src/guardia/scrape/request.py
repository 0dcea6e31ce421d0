"""What a scrape sends and how its answer is read: headers, TLS, Accept, Content-Type.

Prometheus's rules for the request (Accept weighted from ``scrape_protocols``, compression,
credentials from inline values or files, the scrape-timeout header) and for choosing a
parser from the response's Content-Type (``fallback_scrape_protocol``) live here, shared by
the built-in client (``http.py``) and the httpx client used behind proxies.
"""

from __future__ import annotations

import base64
import ssl

import httpx

from guardia.config.httpclient import TLSConfig
from guardia.config.prometheus import ScrapeConfig
from guardia.scrape.ingest import ScrapeError

USER_AGENT = "guardia/0.1 (Prometheus-compatible scraper)"
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

_PROTOCOL_MEDIA = {
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
}
DEFAULT_PROTOCOLS = (
    "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4",
)


def accept_header(protocols: tuple[str, ...] | None) -> str:
    """The Accept header for ``scrape_protocols``, weighted in order as Prometheus 3 does.

    The protobuf format is not parsed by guardia, so it is never asked for.
    """
    media = [_PROTOCOL_MEDIA[p] for p in (protocols or DEFAULT_PROTOCOLS) if p in _PROTOCOL_MEDIA]
    parts = []
    q = 1.0
    for i, m in enumerate(media):
        parts.append(m if i == 0 else f"{m};q={q:.1f}")
        q = max(q - 0.1, 0.2)
    parts.append("*/*;q=0.1")
    return ",".join(parts)


ACCEPT_HEADER = accept_header(None)


def choose_parser(content_type: str, fallback: str | None) -> bool:
    """True for OpenMetrics, False for the text format; ``ScrapeError`` if neither fits."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/openmetrics-text":
        return True
    if media == "text/plain":
        return False
    if fallback in _PROTOCOL_MEDIA:
        return fallback.startswith("OpenMetrics")  # type: ignore[union-attr]
    if not media:
        raise ScrapeError(
            "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol "
            "specified for target"
        )
    raise ScrapeError(
        f"received unsupported Content-Type {media!r} and no fallback_scrape_protocol specified for target"
    )


def http_error(e: httpx.HTTPError) -> str:
    """A reason a person can act on; httpx often leaves the message empty."""
    detail = f": {e}" if str(e) else ""
    if isinstance(e, httpx.ConnectError):
        return f"connection failed (is the target listening?){detail}"
    if isinstance(e, httpx.ReadError):
        return f"connection reset while reading the response{detail}"
    if isinstance(e, httpx.RemoteProtocolError):
        return f"the target broke the HTTP protocol{detail}"
    return f"{type(e).__name__}{detail}"


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """An SSL context from a tls_config block (CA, client cert, verification, versions)."""
    ctx = ssl.create_default_context()
    if tls.ca_file:
        ctx.load_verify_locations(cafile=tls.ca_file)
    elif tls.ca:
        ctx.load_verify_locations(cadata=tls.ca)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.min_version:
        ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    return ctx


def request_headers(cfg: ScrapeConfig) -> dict[str, str]:
    """Headers every scrape of a job sends: Accept negotiation, compression, credentials."""
    headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": accept_header(cfg.scrape_protocols)}
    headers["Accept-Encoding"] = "gzip" if cfg.enable_compression else "identity"
    if cfg.basic_auth is not None:
        user = cfg.basic_auth.username
        if cfg.basic_auth.username_file:
            with open(cfg.basic_auth.username_file, encoding="utf-8") as f:
                user = f.read().strip()
        pw = cfg.basic_auth.password_secret()
        token = base64.b64encode(f"{user}:{pw.reveal() if pw else ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif cfg.authorization is not None:
        cred = cfg.authorization.credentials_secret()
        headers["Authorization"] = f"{cfg.authorization.type} {cred.reveal() if cred else ''}".strip()
    elif cfg.bearer_token is not None:
        headers["Authorization"] = f"Bearer {cfg.bearer_token.reveal()}"
    elif cfg.bearer_token_file:
        with open(cfg.bearer_token_file, encoding="utf-8") as f:
            headers["Authorization"] = f"Bearer {f.read().strip()}"
    return headers


def has_credential_files(cfg: ScrapeConfig) -> bool:
    b, a = cfg.basic_auth, cfg.authorization
    return bool(
        (b is not None and (b.password_file or b.username_file))
        or (a is not None and a.credentials_file)
        or cfg.bearer_token_file
    )


def uses_proxy(cfg: ScrapeConfig) -> bool:
    return bool(cfg.proxy_url) or cfg.proxy_from_environment


def make_client(cfg: ScrapeConfig) -> httpx.AsyncClient:
    """An httpx client for jobs that go through a proxy (the direct path is ``HTTPScraper``)."""
    headers = request_headers(cfg)
    verify: ssl.SSLContext | bool = ssl_context(cfg.tls_config) if cfg.scheme == "https" else True
    return httpx.AsyncClient(
        headers=headers,
        verify=verify,
        trust_env=cfg.proxy_from_environment,
        proxy=cfg.proxy_url or None,
        follow_redirects=cfg.follow_redirects,
        timeout=None,
    )
