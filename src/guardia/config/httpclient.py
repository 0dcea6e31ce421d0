"""HTTP client settings shared by scrape configs, alertmanagers, remote write and receivers.

Prometheus and Alertmanager embed the same block (``basic_auth``, ``authorization``,
``oauth2``, ``tls_config``, proxy settings) in many places; one model and one set of
cross-field checks keeps their rules identical everywhere, as upstream's shared library does.
Secrets are ``Secret`` values; ``*_file`` paths are kept as given and made absolute by the
loader, and read when a request is made (so rotating the file needs no reload).
``new_client`` (``new_sync_client`` for worker threads) turns a block into the HTTP client every
outbound request uses (proxied scrapes, the rule notifier, the receivers, remote write and
read; ``ssl_context`` and ``authorization_header`` are its parts, also used by the scrape
loop's own client), so all of them present credentials (OAuth2 tokens included),
certificates and proxies alike.
"""

from __future__ import annotations

import base64
import ssl
import time
import urllib.parse
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from guardia.config.errors import Path as FieldPath
from guardia.config.fields import PromModel
from guardia.config.schema import Field
from guardia.config.secrets import Secret, read_secret_file

if TYPE_CHECKING:  # httpx is imported when a client is built: `guardia check config` needs none
    import httpx

Finding = tuple[FieldPath, str, str]
"""(field path, message, severity): a problem found after the schema validated."""


def secret_value(inline: Secret | None, file: str | None) -> Secret | None:
    """The secret to send: the inline value, or the file's current content."""
    if inline is not None:
        return inline
    if file:
        return read_secret_file(file)
    return None


class BasicAuth(PromModel):
    username: str = ""
    username_file: str | None = None
    password: Secret | None = None
    password_file: str | None = None

    def password_secret(self) -> Secret | None:
        return secret_value(self.password, self.password_file)


class Authorization(PromModel):
    type: str = "Bearer"
    credentials: Secret | None = None
    credentials_file: str | None = None

    def credentials_secret(self) -> Secret | None:
        return secret_value(self.credentials, self.credentials_file)


TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]


class TLSConfig(PromModel):
    ca: str | None = None
    ca_file: str | None = None
    cert: str | None = None
    cert_file: str | None = None
    key: Secret | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: TLSVersion | None = None
    max_version: TLSVersion | None = None


class OAuth2(PromModel):
    client_id: str = ""
    client_secret: Secret | None = None
    client_secret_file: str | None = None
    scopes: tuple[str, ...] = ()
    token_url: str = ""
    endpoint_params: dict[str, str] | None = None
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    proxy_url: str | None = None
    no_proxy: str | None = None
    proxy_from_environment: bool = False


class HTTPClientFields(PromModel):
    """The inline HTTP client block; scrape, alertmanager and remote configs inherit it."""

    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    oauth2: OAuth2 | None = None
    bearer_token: Secret | None = None
    bearer_token_file: str | None = None
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    proxy_url: str | None = None
    no_proxy: str | None = None
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, tuple[Secret, ...]] | None = None
    follow_redirects: bool = True
    enable_http2: bool = True
    http_headers: dict[str, dict[str, object]] | None = None


class HTTPClientConfig(HTTPClientFields):
    """The same block nested under a key (``http_config:`` in alertmanager.yml)."""


_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def ssl_context(tls: TLSConfig | None) -> ssl.SSLContext:
    """An SSL context from a ``tls_config`` block (CA, client cert, verification, versions).

    Files are read now, so a client built per request or per reload sees rotated certificates.
    """
    ctx = ssl.create_default_context()
    if tls is None:
        return ctx
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


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def authorization_header(c: HTTPClientFields) -> str | None:
    """The ``Authorization`` value the block asks for (basic, typed credentials, bearer), or None.

    Secrets and ``*_file`` contents are read at each call, so a rotated file takes effect on
    the next client without a reload.  ``check_http_client`` has already rejected blocks that
    set more than one kind of credential.
    """
    if c.basic_auth is not None:
        user = _read_text(c.basic_auth.username_file) if c.basic_auth.username_file else c.basic_auth.username
        pw = c.basic_auth.password_secret()
        token = base64.b64encode(f"{user}:{pw.reveal() if pw else ''}".encode()).decode()
        return f"Basic {token}"
    if c.authorization is not None:
        cred = c.authorization.credentials_secret()
        return f"{c.authorization.type} {cred.reveal() if cred else ''}".strip()
    if c.bearer_token is not None:
        return f"Bearer {c.bearer_token.reveal()}"
    if c.bearer_token_file:
        return f"Bearer {_read_text(c.bearer_token_file)}"
    return None


def new_client(c: HTTPClientFields | None, *, headers: Mapping[str, str],
               timeout_s: float | None = None) -> httpx.AsyncClient:
    """The HTTP client an HTTP client block describes: the one factory for outbound HTTP.

    ``Authorization`` from the block's credentials (files read now) joins ``headers``; TLS is
    ``ssl_context(tls_config)`` (the system trust store plus the block's CA, certificate and
    versions, as Prometheus's client); ``proxy_url`` is used when set and the environment's
    proxy variables only with ``proxy_from_environment``; ``follow_redirects`` as given.
    ``timeout_s`` is the default for requests that do not pass their own (None: no limit).
    """
    import httpx

    return httpx.AsyncClient(**_client_options(c, headers, timeout_s))


def new_sync_client(c: HTTPClientFields | None, *, headers: Mapping[str, str],
                    timeout_s: float | None = None) -> httpx.Client:
    """``new_client`` for code that runs in a worker thread (a remote querier read by the
    PromQL engine): the same settings, a blocking client."""
    import httpx

    return httpx.Client(**_client_options(c, headers, timeout_s))


def _client_options(c: HTTPClientFields | None, headers: Mapping[str, str],
                    timeout_s: float | None) -> dict[str, Any]:
    c = c if c is not None else HTTPClientFields()
    sent = dict(headers)
    auth = authorization_header(c)
    if auth is not None:
        sent["Authorization"] = auth
    opts: dict[str, Any] = {
        "headers": sent,
        "verify": ssl_context(c.tls_config),
        "proxy": c.proxy_url or None,
        "trust_env": c.proxy_from_environment,
        "follow_redirects": c.follow_redirects,
        "timeout": timeout_s,
    }
    if c.oauth2 is not None:
        opts["auth"] = _oauth2_auth(c.oauth2)
    return opts


def check_http_client(c: HTTPClientFields, base: FieldPath = ()) -> Iterator[Finding]:
    """Prometheus's cross-field rules for an HTTP client block (common/config ``Validate``)."""
    auths = [n for n, set_ in (
        ("basic_auth", c.basic_auth is not None),
        ("authorization", c.authorization is not None),
        ("oauth2", c.oauth2 is not None),
        ("bearer_token", c.bearer_token is not None or c.bearer_token_file is not None),
    ) if set_]
    if len(auths) > 1:
        yield ((*base, auths[1]),
               f"at most one of basic_auth, authorization, oauth2, bearer_token & bearer_token_file "
               f"must be configured (found {' and '.join(auths)})", "error")
    if c.bearer_token is not None and c.bearer_token_file is not None:
        yield ((*base, "bearer_token_file"),
               "at most one of bearer_token & bearer_token_file must be configured", "error")
    if c.bearer_token is not None or c.bearer_token_file is not None:
        field = "bearer_token" if c.bearer_token is not None else "bearer_token_file"
        yield ((*base, field), f"{field} is deprecated; use authorization: {{credentials"
               f"{'_file' if field.endswith('_file') else ''}: ...}} instead", "warning")
    if c.basic_auth is not None:
        b = c.basic_auth
        p = (*base, "basic_auth")
        if b.password is not None and b.password_file is not None:
            yield ((*p, "password_file"),
                   "at most one of basic_auth password & password_file must be configured", "error")
        if b.username and b.username_file:
            yield ((*p, "username_file"),
                   "at most one of basic_auth username & username_file must be configured", "error")
        if b.password is None and b.password_file is None:
            yield (p, "basic_auth has no password or password_file; requests will send an empty password",
                   "warning")
    if c.authorization is not None:
        a = c.authorization
        p = (*base, "authorization")
        if a.type.strip().lower() == "basic":
            yield ((*p, "type"), 'authorization type cannot be set to "basic", use "basic_auth" instead',
                   "error")
        if a.credentials is not None and a.credentials_file is not None:
            yield ((*p, "credentials_file"),
                   "at most one of authorization credentials & credentials_file must be configured", "error")
    if c.oauth2 is not None:
        o = c.oauth2
        p = (*base, "oauth2")
        if not o.client_id:
            yield ((*p, "client_id"), "oauth2 client_id must be configured", "error")
        if o.client_secret is not None and o.client_secret_file is not None:
            yield ((*p, "client_secret_file"),
                   "at most one of oauth2 client_secret & client_secret_file must be configured", "error")
        if not o.token_url:
            yield ((*p, "token_url"), "oauth2 token_url must be configured", "error")
        yield from check_tls(o.tls_config, (*p, "tls_config"))
    yield from check_tls(c.tls_config, (*base, "tls_config"))
    if c.proxy_from_environment and c.proxy_url:
        yield ((*base, "proxy_url"),
               "if proxy_from_environment is configured, proxy_url must not be configured", "error")
    if c.no_proxy and not c.proxy_url:
        yield ((*base, "no_proxy"), "if no_proxy is configured, proxy_url must also be configured", "error")


def check_tls(t: TLSConfig, base: FieldPath) -> Iterator[Finding]:
    for a, b in (("ca", "ca_file"), ("cert", "cert_file"), ("key", "key_file")):
        if getattr(t, a) is not None and getattr(t, b) is not None:
            yield ((*base, b), f"at most one of {a} and {b} must be configured", "error")
    has_cert = t.cert is not None or t.cert_file is not None
    has_key = t.key is not None or t.key_file is not None
    if has_cert and not has_key:
        yield (base, "exactly one of key or key_file must be configured when a client certificate is "
               "configured", "error")
    if has_key and not has_cert:
        yield (base, "exactly one of cert or cert_file must be configured when a client key is configured",
               "error")
    order = ["TLS10", "TLS11", "TLS12", "TLS13"]
    if t.min_version and t.max_version and order.index(t.min_version) > order.index(t.max_version):
        yield ((*base, "min_version"), f"tls_config.max_version ({t.max_version}) is lower than "
               f"min_version ({t.min_version})", "error")


FILE_FIELDS = (
    "password_file", "username_file", "credentials_file", "bearer_token_file",
    "client_secret_file", "ca_file", "cert_file", "key_file",
)
"""Field names holding paths that Prometheus resolves relative to the config file."""


def resolve_path(value: str, base_dir: Path) -> str:
    p = Path(value)
    return str(p if p.is_absolute() else (base_dir / p))


def _oauth2_auth(cfg: OAuth2) -> httpx.Auth:
    """OAuth2 client credentials, as Prometheus's ``oauth2:`` block: a token from ``token_url``
    (client id and secret as basic auth), kept until a minute before ``expires_in`` ends and
    sent as a bearer token; a 401 drops it and asks for a new one once.  The token request
    goes through the same client (its TLS and proxy)."""
    import httpx

    class _OAuth2(httpx.Auth):
        requires_response_body = True  # the token response is read (sync or async) before the flow sees it

        def __init__(self) -> None:
            self._token = ""
            self._until = 0.0

        def _token_request(self) -> httpx.Request:
            secret = secret_value(cfg.client_secret, cfg.client_secret_file)
            form = {"grant_type": "client_credentials"}
            if cfg.scopes:
                form["scope"] = " ".join(cfg.scopes)
            form.update(cfg.endpoint_params or {})
            pw = secret.reveal() if secret else ""
            basic = base64.b64encode(
                f"{urllib.parse.quote(cfg.client_id)}:{urllib.parse.quote(pw)}".encode()).decode()
            return httpx.Request("POST", cfg.token_url, data=form,
                                 headers={"Authorization": f"Basic {basic}"})

        def _take(self, resp: httpx.Response) -> None:
            if resp.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"oauth2 token endpoint {cfg.token_url} answered {resp.status_code}",
                    request=resp.request, response=resp)
            try:
                data = resp.json()
                token = str(data["access_token"])
            except (ValueError, KeyError, TypeError):
                raise httpx.HTTPStatusError(f"oauth2 token endpoint {cfg.token_url} sent no access_token",
                                            request=resp.request, response=resp) from None
            ttl = float(data.get("expires_in") or 3600)
            self._token, self._until = token, time.monotonic() + max(ttl - 60, ttl / 2)

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            for attempt in (0, 1):
                if not self._token or time.monotonic() >= self._until:
                    resp = yield self._token_request()
                    self._take(resp)
                request.headers["Authorization"] = f"Bearer {self._token}"
                response = yield request
                if response.status_code != 401 or attempt:
                    return
                self._token = ""

    return _OAuth2()
