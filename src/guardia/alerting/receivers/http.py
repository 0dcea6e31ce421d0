"""The HTTP helper every HTTP integration uses: client from ``http_config`` (``new_client``,
the factory all outbound HTTP shares), status → retry.

5xx and 429 are worth retrying, other 4xx are not (the request itself is wrong); network
errors and timeouts are retried.  The error message carries the status and the start of the
response body, which is usually what the operator needs to see.
"""

from __future__ import annotations

from typing import Any

import httpx

from guardia.alerting.receivers.base import NotifyError
from guardia.config.httpclient import new_client
from guardia.config.receivers.base import HTTPConfig

USER_AGENT = "guardia-alertmanager/0.1"


def client_for(cfg: HTTPConfig | None, timeout_s: float = 30.0) -> httpx.AsyncClient:
    """A client with the receiver's ``http_config`` credentials, TLS, proxy and redirects."""
    return new_client(cfg, headers={"User-Agent": USER_AGENT}, timeout_s=timeout_s)


def redact_url(url: str) -> str:
    """Scheme and host only: webhook URLs are secrets (the path is the token)."""
    try:
        u = httpx.URL(url)
    except Exception:
        return "<url>"
    return f"{u.scheme}://{u.host}{':' + str(u.port) if u.port else ''}/<redacted>"


async def post(client: httpx.AsyncClient, url: str, *, json: Any = None, data: Any = None,
               headers: dict[str, str] | None = None, timeout_s: float | None = None,
               method: str = "POST", params: Any = None) -> httpx.Response:
    """POST (or ``method``) and turn every failure into a ``NotifyError`` with the right retry
    decision."""
    try:
        kwargs: dict[str, Any] = {"json": json} if data is None else {"content": data}
        if timeout_s is not None:
            kwargs["timeout"] = timeout_s
        if params is not None:
            kwargs["params"] = params
        resp = await client.request(method, url, headers=headers, **kwargs)
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
