"""What a scrape sends and how its answer is read: headers, TLS, Accept, Content-Type.

Prometheus's rules for the request (Accept weighted from ``scrape_protocols``, compression,
credentials from inline values or files, the scrape-timeout header) and for choosing a
parser from the response's Content-Type (``fallback_scrape_protocol``) live here, shared by
the built-in client (``http.py``) and the httpx client used behind proxies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardia.config.httpclient import authorization_header, new_client
from guardia.config.prometheus import ScrapeConfig
from guardia.scrape.http import connect_failure
from guardia.scrape.ingest import ScrapeError

if TYPE_CHECKING:  # httpx is loaded only by jobs behind a proxy (``make_client``)
    import httpx

USER_AGENT = "guardia/0.1 (Prometheus-compatible scraper)"

PROTOBUF_MEDIA = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
_PROTOCOL_MEDIA = {
    "PrometheusProto": PROTOBUF_MEDIA,
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
}
DEFAULT_PROTOCOLS = (
    "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4",
)
# The body formats ``choose_parser`` names.
TEXT, OPENMETRICS, PROTOBUF = "text", "openmetrics", "protobuf"


def accept_header(protocols: tuple[str, ...] | None, escaping: str | None = None) -> str:
    """The Accept header for ``scrape_protocols``, weighted in order as Prometheus 3 does.

    Every entry gets a q-weight, the first ``0.<number of known protocols + 1>`` (0.6) and one
    tenth less for each next, and ``*/*`` the next lower weight: the target picks the first
    format it can write.  The 1.0.0 text formats carry the job's
    ``metric_name_escaping_scheme`` (``allow-utf-8`` by default: send UTF-8 names as they
    are), as Prometheus 3 asks for them.
    """
    parts = []
    weight = len(_PROTOCOL_MEDIA) + 1
    for p in protocols or DEFAULT_PROTOCOLS:
        media = _PROTOCOL_MEDIA.get(p)
        if media is None:
            continue
        if escaping and p in ("PrometheusText1.0.0", "OpenMetricsText1.0.0"):
            media += f";escaping={escaping}"
        parts.append(f"{media};q=0.{weight}")
        weight -= 1
    parts.append(f"*/*;q=0.{weight}")
    return ",".join(parts)


ACCEPT_HEADER = accept_header(None)


def _params(content_type: str) -> dict[str, str]:
    out = {}
    for part in content_type.split(";")[1:]:
        k, _, v = part.partition("=")
        out[k.strip().lower()] = v.strip().strip('"')
    return out


def choose_parser(content_type: str, fallback: str | None) -> str:
    """``TEXT``, ``OPENMETRICS`` or ``PROTOBUF`` for a response's Content-Type, as Prometheus 3
    chooses: a missing or unknown type takes ``fallback_scrape_protocol`` when the job sets
    one and fails the scrape when it does not."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/openmetrics-text":
        return OPENMETRICS
    if media == "text/plain":
        return TEXT
    if media == "application/vnd.google.protobuf":
        params = _params(content_type)
        proto = params.get("proto", "io.prometheus.client.MetricFamily")
        encoding = params.get("encoding", "delimited")
        if proto != "io.prometheus.client.MetricFamily" or encoding != "delimited":
            raise ScrapeError(
                f"received protobuf Content-Type with proto={proto!r} encoding={encoding!r}; only "
                "proto=io.prometheus.client.MetricFamily with encoding=delimited is read")
        return PROTOBUF
    if fallback in _PROTOCOL_MEDIA:
        assert fallback is not None
        if fallback == "PrometheusProto":
            return PROTOBUF
        return OPENMETRICS if fallback.startswith("OpenMetrics") else TEXT
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
    import httpx

    detail = f": {e}" if str(e) else ""
    if isinstance(e, httpx.ConnectError):
        try:
            host: str | None = e.request.url.host
        except RuntimeError:  # raised outside a request
            host = None
        return connect_failure(e, host)
    if isinstance(e, httpx.ReadError):
        return f"connection reset while reading the response{detail}"
    if isinstance(e, httpx.RemoteProtocolError):
        return f"the target broke the HTTP protocol{detail}"
    return f"{type(e).__name__}{detail}"


def request_headers(cfg: ScrapeConfig) -> dict[str, str]:
    """Headers every scrape of a job sends: Accept negotiation, compression, credentials."""
    headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": accept_header(
        cfg.scrape_protocols, cfg.metric_name_escaping_scheme)}
    headers["Accept-Encoding"] = "gzip" if cfg.enable_compression else "identity"
    auth = authorization_header(cfg)
    if auth is not None:
        headers["Authorization"] = auth
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
    return new_client(cfg, headers=request_headers(cfg))
