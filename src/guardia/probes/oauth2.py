"""OAuth2 client-credentials tokens for http probes, fetched once and reused until they expire.

A probe every 30 s must not ask the identity provider for a token every 30 s; tokens are
cached per ``oauth2`` block and refreshed a minute before ``expires_in`` runs out.
"""

from __future__ import annotations

import asyncio
import time

from guardia.config.httpclient import OAuth2, secret_value
from guardia.probes.tlsinfo import client_context


class OAuth2Error(Exception):
    """The token endpoint refused or answered something that is not a token."""


_tokens: dict[OAuth2, tuple[str, float]] = {}
_lock = asyncio.Lock()


async def token_header(cfg: OAuth2) -> str:
    """``Bearer <token>`` for ``cfg``, from the cache or the token endpoint."""
    cached = _tokens.get(cfg)
    if cached is not None and cached[1] > time.monotonic():
        return f"Bearer {cached[0]}"
    import httpx  # here: an agent (or server) without oauth2 probes never loads httpx

    async with _lock:
        secret = secret_value(cfg.client_secret, cfg.client_secret_file)
        form = {"grant_type": "client_credentials"}
        if cfg.scopes:
            form["scope"] = " ".join(cfg.scopes)
        form.update(cfg.endpoint_params or {})
        try:
            async with httpx.AsyncClient(verify=client_context(cfg.tls_config), timeout=10) as client:
                resp = await client.post(cfg.token_url, data=form,
                                         auth=(cfg.client_id, secret.reveal() if secret else ""))
        except httpx.HTTPError as e:
            raise OAuth2Error(f"oauth2 token request to {cfg.token_url} failed: {e}") from None
        if resp.status_code != 200:
            raise OAuth2Error(f"oauth2 token endpoint {cfg.token_url} answered {resp.status_code}")
        try:
            data = resp.json()
            token = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise OAuth2Error(f"oauth2 token endpoint {cfg.token_url} sent no access_token") from None
        ttl = float(data.get("expires_in") or 3600)
        _tokens[cfg] = (token, time.monotonic() + max(ttl - 60, ttl / 2))
        return f"Bearer {token}"
