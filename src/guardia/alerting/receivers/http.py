"""The HTTP helper every HTTP integration uses: client from ``http_config``, status → retry.

5xx and 429 are worth retrying, other 4xx are not (the request itself is wrong); network
errors and timeouts are retried.  The error message carries the status and the start of the
response body, which is usually what the operator needs to see.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from guardia.alerting.receivers.base import NotifyError
from guardia.config.alertmanager import HTTPConfig
from guardia.config.secrets import read_secret_file

USER_AGENT = "guardia-alertmanager/0.1"


def _ssl_context(cfg: HTTPConfig) -> ssl.SSLContext | bool:
    tls = cfg.tls_config
    if tls is None:
        return True
    ctx = ssl.create_default_context(cafile=tls.ca_file) if tls.ca_file else ssl.create_default_context()
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx


def client_for(cfg: HTTPConfig | None, timeout_s: float = 30.0) -> httpx.AsyncClient:
    headers = {"User-Agent": USER_AGENT}
    auth: httpx.Auth | None = None
    verify: ssl.SSLContext | bool = True
    proxy: str | None = None
    follow = True
    if cfg is not None:
        verify = _ssl_context(cfg)
        proxy = cfg.proxy_url
        follow = cfg.follow_redirects
        if cfg.basic_auth is not None:
            pw = cfg.basic_auth.password.reveal() if cfg.basic_auth.password else ""
            if cfg.basic_auth.password_file:
                pw = read_secret_file(cfg.basic_auth.password_file).reveal()
            auth = httpx.BasicAuth(cfg.basic_auth.username, pw)
        token = None
        kind = "Bearer"
        if cfg.authorization is not None:
            kind = cfg.authorization.type or "Bearer"
            if cfg.authorization.credentials is not None:
                token = cfg.authorization.credentials.reveal()
            elif cfg.authorization.credentials_file:
                token = read_secret_file(cfg.authorization.credentials_file).reveal()
        elif cfg.bearer_token is not None:
            token = cfg.bearer_token.reveal()
        elif cfg.bearer_token_file:
            token = read_secret_file(cfg.bearer_token_file).reveal()
        if token:
            headers["Authorization"] = f"{kind} {token}"
    return httpx.AsyncClient(headers=headers, auth=auth, verify=verify, proxy=proxy,
                             follow_redirects=follow, timeout=timeout_s)


def redact_url(url: str) -> str:
    """Scheme and host only: webhook URLs are secrets (the path is the token)."""
    try:
        u = httpx.URL(url)
    except Exception:
        return "<url>"
    return f"{u.scheme}://{u.host}{':' + str(u.port) if u.port else ''}/<redacted>"


async def post(client: httpx.AsyncClient, url: str, *, json: Any = None, data: Any = None,
               headers: dict[str, str] | None = None, timeout_s: float | None = None) -> httpx.Response:
    """POST and turn every failure into a ``NotifyError`` with the right retry decision."""
    try:
        kwargs: dict[str, Any] = {"json": json} if data is None else {"content": data}
        if timeout_s is not None:
            kwargs["timeout"] = timeout_s
        resp = await client.post(url, headers=headers, **kwargs)
    except httpx.TimeoutException:
        raise NotifyError(f"timeout posting to {redact_url(url)}", retryable=True,
                          reason="contextDeadlineExceeded") from None
    except httpx.HTTPError as e:
        raise NotifyError(f"error posting to {redact_url(url)}: {e}", retryable=True,
                          reason="other") from None
    check_status(resp, url)
    return resp


def check_status(resp: httpx.Response, url: str) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    body = resp.text[:200].strip()
    msg = f"unexpected status code {code} from {redact_url(url)}" + (f": {body}" if body else "")
    retryable = code >= 500 or code == 429
    raise NotifyError(msg, retryable=retryable, reason="serverError" if code >= 500 else "clientError")
