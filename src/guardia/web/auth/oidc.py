"""Signing in through an OpenID Connect provider: the Authorization Code flow with PKCE.

guardia sends the browser to the provider with a random ``state``, ``nonce`` and a PKCE
challenge (S256 of a verifier kept here), takes the code back at ``/-/auth/oidc/callback``,
trades it (with the verifier, and the client secret when there is one) for an ID token, and
checks the token itself: signature against the provider's published keys (RS256, ES256 and
PS256 only: never ``none`` or a shared-secret algorithm), issuer, audience, expiry and nonce.
The user's role comes from a claim (``groups`` by default) mapped by the web config.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from guardia.config.webconfig import OidcConfig
from guardia.web.auth.routes import RANK

_PENDING_S = 600  # a sign-in must come back from the provider within 10 minutes
_LEEWAY_S = 60  # clock difference tolerated on exp/iat
_MAX_PENDING = 10_000


class OidcError(Exception):
    """A sign-in that cannot complete; the message is safe to show (it holds no token)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    verifier: str
    nonce: str
    next: str
    created: float


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class OidcClient:
    def __init__(self, config: OidcConfig, redirect_url: str) -> None:
        self.config = config
        self.redirect_url = config.redirect_url or redirect_url
        self._meta: dict[str, Any] | None = None
        self._keys: dict[str, PublicKey] = {}
        self._pending: dict[str, _Pending] = {}

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=10) as c:
                r = await c.get(url)
                r.raise_for_status()
                body = r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise OidcError(f"the identity provider did not answer {url}: {e}") from None
        if not isinstance(body, dict):
            raise OidcError(f"the identity provider's {url} is not a JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            meta = await self._get(self.config.issuer + "/.well-known/openid-configuration")
            if str(meta.get("issuer", "")).rstrip("/") != self.config.issuer:
                raise OidcError(
                    f"the provider calls itself {meta.get('issuer')!r}, not {self.config.issuer!r}"
                )
            for k in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(meta.get(k), str):
                    raise OidcError(f"the provider's discovery document has no {k}")
            self._meta = meta
        return self._meta

    async def start(self, next_: str) -> str:
        """The provider's URL to send the browser to."""
        meta = await self.metadata()
        now = time.time()
        for k in [k for k, p in self._pending.items() if now - p.created > _PENDING_S]:
            del self._pending[k]
        while len(self._pending) >= _MAX_PENDING:
            del self._pending[next(iter(self._pending))]
        state, nonce, verifier = (
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
        )
        self._pending[state] = _Pending(verifier, nonce, next_, now)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.redirect_url,
                "scope": " ".join(self.config.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
            }
        )
        sep = "&" if "?" in meta["authorization_endpoint"] else "?"
        return f"{meta['authorization_endpoint']}{sep}{query}"

    async def finish(self, code: str, state: str) -> tuple[dict[str, Any], str]:
        """The ID token's verified claims, and where the user was going."""
        pending = self._pending.pop(state, None)
        if pending is None or time.time() - pending.created > _PENDING_S:
            raise OidcError("this sign-in attempt is unknown or expired; start again")
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_url,
            "code_verifier": pending.verifier,
            "client_id": self.config.client_id,
        }
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if self.config.client_secret:  # client_secret_basic, the method every provider supports
            auth = httpx.BasicAuth(self.config.client_id, self.config.client_secret)
        try:
            async with httpx.AsyncClient(timeout=10) as c:
                r = await c.post(meta["token_endpoint"], data=form, auth=auth)
                body = r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise OidcError(f"the identity provider's token endpoint failed: {e}") from None
        if r.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            reason = body.get("error") if isinstance(body, dict) else None
            raise OidcError(f"the identity provider refused the code ({reason or r.status_code})")
        return await self.verify(body["id_token"], pending.nonce), pending.next

    async def verify(self, token: str, nonce: str) -> dict[str, Any]:
        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            header = json.loads(_unb64(head_b64))
            claims = json.loads(_unb64(body_b64))
            signature = _unb64(sig_b64)
        except ValueError:
            raise OidcError("the ID token is not a JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OidcError("the ID token is not a JWT")
        alg = header.get("alg")
        if alg not in ("RS256", "PS256", "ES256"):
            raise OidcError(f"the ID token is signed with {alg!r}; guardia accepts RS256, PS256, ES256")
        key = await self._key(str(header.get("kid", "")))
        _check_signature(key, alg, f"{head_b64}.{body_b64}".encode(), signature)
        meta = await self.metadata()
        now = time.time()
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        problems = [
            (str(claims.get("iss", "")).rstrip("/") != str(meta["issuer"]).rstrip("/"), "issuer"),
            (self.config.client_id not in auds, "audience"),
            (len(auds) > 1 and claims.get("azp", self.config.client_id) != self.config.client_id, "azp"),
            (not isinstance(claims.get("exp"), int | float) or claims["exp"] + _LEEWAY_S < now, "expiry"),
            (isinstance(claims.get("iat"), int | float) and claims["iat"] - _LEEWAY_S > now, "issued-at"),
            (not secrets.compare_digest(str(claims.get("nonce", "")), nonce), "nonce"),
        ]
        bad = [what for failed, what in problems if failed]
        if bad:
            raise OidcError(f"the ID token fails its {', '.join(bad)} check")
        return claims

    async def _key(self, kid: str) -> PublicKey:
        if kid not in self._keys:
            # an unknown kid: the provider may have rotated its keys; read them again
            jwks = await self._get((await self.metadata())["jwks_uri"])
            self._keys = {
                str(k.get("kid", "")): _jwk_key(k)
                for k in jwks.get("keys", [])
                if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("kty") in ("RSA", "EC")
            }
        if kid not in self._keys:
            raise OidcError("the ID token is signed with a key the provider does not publish")
        return self._keys[kid]

    def user_and_role(self, claims: dict[str, Any]) -> tuple[str, str]:
        user = claims.get(self.config.username_claim) or claims.get("sub")
        if not isinstance(user, str) or not user:
            raise OidcError(f"the ID token has no {self.config.username_claim} or sub claim")
        values = claims.get(self.config.roles_claim)
        values = values if isinstance(values, list) else [values]
        roles = [self.config.roles[v] for v in values if isinstance(v, str) and v in self.config.roles]
        role = max(roles, key=RANK.__getitem__) if roles else self.config.default_role
        if role is None:
            raise OidcError(f"{user} has none of the {self.config.roles_claim} that give a role in guardia")
        return user, role


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(text: str) -> int:
    return int.from_bytes(_unb64(text), "big")


def _jwk_key(k: dict[str, Any]) -> PublicKey:
    try:
        if k["kty"] == "RSA":
            return rsa.RSAPublicNumbers(_int(k["e"]), _int(k["n"])).public_key()
        if k.get("crv") != "P-256":
            raise OidcError(f"unsupported EC curve {k.get('crv')!r}")
        return ec.EllipticCurvePublicNumbers(_int(k["x"]), _int(k["y"]), ec.SECP256R1()).public_key()
    except (KeyError, ValueError, TypeError):
        raise OidcError("the provider publishes a key guardia cannot read") from None


def _check_signature(key: PublicKey, alg: str, signed: bytes, signature: bytes) -> None:
    try:
        if alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != 64:
                raise InvalidSignature
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg == "RS256"
                else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            )
            key.verify(signature, signed, pad, hashes.SHA256())
        else:
            raise InvalidSignature
    except InvalidSignature:
        raise OidcError("the ID token's signature does not verify") from None
