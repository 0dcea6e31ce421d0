"""The Prometheus web configuration file (``--web.config.file``: TLS and basic auth for the
HTTP server), checked as ``promtool check web-config`` checks it, and loaded for ``guardia serve``.

A web config that does not load keeps the server from starting, and a plain-text password
where a bcrypt hash belongs locks everyone out, so both are worth catching before a deploy.
Every problem names file, line and field.

guardia reads one section Prometheus does not know, ``guardia:`` (roles of the basic-auth
users, which routes stay public, session lifetime, failed-login limits): a file without it is
an exporter-toolkit file as Prometheus reads it, and every user is an admin there.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.yamlsource import YamlSource, load_yaml
from guardia.model import DurationError, parse_duration

_TLS_FIELDS = {"cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file", "client_ca",
               "cipher_suites", "curve_preferences", "min_version", "max_version",
               "prefer_server_cipher_suites", "client_allowed_sans"}
_TOP = {"tls_server_config", "http_server_config", "basic_auth_users", "guardia"}
_HTTP_FIELDS = {"http2", "headers"}
_CLIENT_AUTH = {"NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven",
                "RequireAndVerifyClientCert"}
_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
_BCRYPT = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")


def check_web_config(path: str) -> list[ConfigIssue]:
    """Every problem in the web config at ``path`` (empty: it loads)."""
    try:
        src = load_yaml(path)
    except ConfigError as e:
        return list(e.issues)
    data = src.data if src.data is not None else {}
    if not isinstance(data, dict):
        return [src.issue((), "a web config is a mapping (tls_server_config, http_server_config, "
                              "basic_auth_users)")]
    issues: list[ConfigIssue] = []
    base = Path(path).parent
    for key in data:
        if key not in _TOP:
            issues.append(src.issue(
                (key,), f"unknown field {key!r}; expected one of {', '.join(sorted(_TOP))}", at_key=True))
    tls = data.get("tls_server_config")
    if tls is not None:
        issues += _check_tls(src, tls, base)
    http = data.get("http_server_config")
    if isinstance(http, dict):
        for key in http:
            if key not in _HTTP_FIELDS:
                issues.append(src.issue(("http_server_config", key), f"unknown field {key!r}", at_key=True))
        issues += _check_headers(src, http.get("headers"))
        if "http2" in http and not isinstance(http["http2"], bool):
            issues.append(src.issue(("http_server_config", "http2"), "http2 is true or false"))
    elif http is not None:
        issues.append(src.issue(("http_server_config",), "http_server_config must be a mapping"))
    users = data.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, dict):
            issues.append(src.issue(("basic_auth_users",),
                                    "basic_auth_users maps user names to bcrypt hashes"))
        else:
            for user, hashed in users.items():
                if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
                    issues.append(src.issue(
                        ("basic_auth_users", user),
                        f"the password of {user!r} is not a bcrypt hash; store the hash, not the password "
                        "(e.g. htpasswd -nbBC 10 '' 'PASSWORD' | tr -d ':\\n')"))
    if data.get("guardia") is not None:
        issues += _check_guardia(src, data["guardia"], users if isinstance(users, dict) else {})
    return issues


def _check_tls(src: YamlSource, tls: object, base: Path) -> list[ConfigIssue]:
    at = ("tls_server_config",)
    if not isinstance(tls, dict):
        return [src.issue(at, "tls_server_config must be a mapping")]
    out = [src.issue((*at, k), f"unknown field {k!r}", at_key=True) for k in tls if k not in _TLS_FIELDS]
    cert = tls.get("cert_file") or tls.get("cert")
    key = tls.get("key_file") or tls.get("key")
    if cert and not key:
        out.append(src.issue(at, "missing key_file (cert_file is set)", at_key=True))
    elif key and not cert:
        out.append(src.issue(at, "missing cert_file (key_file is set)", at_key=True))
    elif not cert and not key:
        out.append(src.issue(at, "missing cert_file and key_file", at_key=True))
    auth = tls.get("client_auth_type")
    if auth is not None and auth not in _CLIENT_AUTH:
        allowed = ", ".join(sorted(_CLIENT_AUTH))
        out.append(src.issue((*at, "client_auth_type"),
                             f"invalid client_auth_type {auth!r}; use one of {allowed}"))
    for v in ("min_version", "max_version"):
        if tls.get(v) is not None and tls[v] not in _VERSIONS:
            out.append(src.issue((*at, v),
                                 f"unknown TLS version: {tls[v]}; use one of {', '.join(_VERSIONS)}"))
    for f in ("cert_file", "key_file", "client_ca_file"):
        name = tls.get(f)
        if isinstance(name, str) and name:
            p = Path(name) if os.path.isabs(name) else base / name
            if not p.is_file():
                out.append(src.issue((*at, f), f"{name}: no such file"))
    if not out and isinstance(tls.get("cert_file"), str) and isinstance(tls.get("key_file"), str):
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                base / tls["cert_file"], base / tls["key_file"])
        except (ssl.SSLError, OSError) as e:
            out.append(src.issue((*at, "cert_file"), f"the certificate and key do not load as a pair: {e}"))
    return out


# Headers an operator may set, as exporter-toolkit allows them; the value check catches typos
# that would silently turn a protection off.
_HEADERS: dict[str, re.Pattern[str] | None] = {
    "Strict-Transport-Security": re.compile(r"^max-age=\d+(; *includeSubDomains)?(; *preload)?$"),
    "X-Content-Type-Options": re.compile(r"^nosniff$"),
    "X-Frame-Options": re.compile(r"^(?i:deny|sameorigin)$"),
    "X-XSS-Protection": re.compile(r"^(0|1|1; *mode=block)$"),
    "Content-Security-Policy": None,
}
ROLES = ("viewer", "editor", "admin")
PUBLIC_GROUPS = ("health", "status_pages", "badges", "heartbeats")
_GUARDIA_FIELDS = {"roles", "default_role", "public", "session_max_age", "failed_logins", "oidc"}
_OIDC_FIELDS = {"issuer", "client_id", "client_secret", "client_secret_file", "redirect_url", "scopes",
                "username_claim", "roles_claim", "roles", "default_role"}
_FAILED_FIELDS = {"per_account", "per_address", "window"}


def _check_headers(src: YamlSource, headers: object) -> list[ConfigIssue]:
    at = ("http_server_config", "headers")
    if headers is None:
        return []
    if not isinstance(headers, dict):
        return [src.issue(at, "headers maps header names to values")]
    out: list[ConfigIssue] = []
    canon = {k.lower(): k for k in _HEADERS}
    for name, value in headers.items():
        known = canon.get(str(name).lower())
        if known is None:
            out.append(src.issue((*at, name), f"header {name!r} cannot be set here; allowed: "
                                 f"{', '.join(_HEADERS)}", at_key=True))
            continue
        pattern = _HEADERS[known]
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            out.append(src.issue((*at, name), f"invalid value {value!r} for header {known}"))
    return out


def _check_guardia(src: YamlSource, g: object, users: dict[Any, Any]) -> list[ConfigIssue]:
    at = ("guardia",)
    if not isinstance(g, dict):
        return [src.issue(at, "guardia must be a mapping (roles, default_role, public, session_max_age, "
                              "failed_logins)")]
    out = [src.issue((*at, k), f"unknown field {k!r}; expected one of {', '.join(sorted(_GUARDIA_FIELDS))}",
                     at_key=True) for k in g if k not in _GUARDIA_FIELDS]
    roles = g.get("roles")
    if roles is not None and not isinstance(roles, dict):
        out.append(src.issue((*at, "roles"), "roles maps basic_auth_users names to viewer, editor or admin"))
    elif isinstance(roles, dict):
        for user, role in roles.items():
            if role not in ROLES:
                out.append(src.issue((*at, "roles", user),
                                     f"unknown role {role!r}; use viewer, editor or admin"))
            elif user not in users:
                out.append(src.issue((*at, "roles", user), f"{user!r} is not in basic_auth_users"))
    if g.get("default_role") is not None and g["default_role"] not in ROLES:
        out.append(src.issue((*at, "default_role"),
                             f"unknown role {g['default_role']!r}; use viewer, editor or admin"))
    public = g.get("public")
    if public is not None:
        if not isinstance(public, list):
            out.append(src.issue((*at, "public"), f"public is a list of {', '.join(PUBLIC_GROUPS)}"))
        else:
            for i, name in enumerate(public):
                if name not in PUBLIC_GROUPS:
                    out.append(src.issue((*at, "public", i),
                                         f"unknown public group {name!r}; use {', '.join(PUBLIC_GROUPS)}"))
    if g.get("session_max_age") is not None:
        out += _duration_issue(src, (*at, "session_max_age"), g["session_max_age"])
    failed = g.get("failed_logins")
    if isinstance(failed, dict):
        for k, v in failed.items():
            if k not in _FAILED_FIELDS:
                out.append(src.issue((*at, "failed_logins", k), f"unknown field {k!r}; expected one of "
                                     f"{', '.join(sorted(_FAILED_FIELDS))}", at_key=True))
            elif k == "window":
                out += _duration_issue(src, (*at, "failed_logins", k), v)
            elif not isinstance(v, int) or isinstance(v, bool) or v < 1:
                out.append(src.issue((*at, "failed_logins", k),
                                     f"{k} is a whole number of attempts, 1 or more"))
    elif failed is not None:
        out.append(src.issue((*at, "failed_logins"),
                             "failed_logins is a mapping (per_account, per_address, window)"))
    if g.get("oidc") is not None:
        out += _check_oidc(src, g["oidc"])
    return out


def _check_oidc(src: YamlSource, o: object) -> list[ConfigIssue]:
    at = ("guardia", "oidc")
    if not isinstance(o, dict):
        return [src.issue(at, "oidc is a mapping (issuer, client_id, client_secret_file, roles_claim, "
                              "roles, ...)")]
    out = [src.issue((*at, k), f"unknown field {k!r}; expected one of {', '.join(sorted(_OIDC_FIELDS))}",
                     at_key=True) for k in o if k not in _OIDC_FIELDS]
    issuer = o.get("issuer")
    if not isinstance(issuer, str) or not re.match(r"^https?://[^/\s]+", issuer):
        out.append(src.issue((*at, "issuer"), "issuer is the identity provider's URL (https://sso.example.com/"
                                              "realms/main); its /.well-known/openid-configuration is read"))
    if not isinstance(o.get("client_id"), str) or not o.get("client_id"):
        out.append(src.issue((*at, "client_id"), "client_id is required (the client registered for guardia)"))
    secret_file = o.get("client_secret_file")
    if secret_file is not None and not Path(str(secret_file)).is_file() and not (
            Path(src.file).parent / str(secret_file)).is_file():
        out.append(src.issue((*at, "client_secret_file"), f"{secret_file}: no such file"))
    roles = o.get("roles")
    if roles is not None and not isinstance(roles, dict):
        out.append(src.issue((*at, "roles"), "roles maps a claim value (a group) to viewer, editor or admin"))
    elif isinstance(roles, dict):
        for group, role in roles.items():
            if role not in ROLES:
                out.append(src.issue((*at, "roles", group),
                                     f"unknown role {role!r}; use viewer, editor or admin"))
    if o.get("default_role") is not None and o["default_role"] not in ROLES:
        out.append(src.issue((*at, "default_role"),
                             f"unknown role {o['default_role']!r}; use viewer, editor or admin"))
    scopes = o.get("scopes")
    if scopes is not None and (not isinstance(scopes, list) or "openid" not in scopes):
        out.append(src.issue((*at, "scopes"), "scopes is a list that includes openid"))
    return out


def _duration_issue(src: YamlSource, at: tuple[str, ...], value: object) -> list[ConfigIssue]:
    try:
        if parse_duration(str(value)) <= 0:
            return [src.issue(at, f"{value!r} must be longer than 0")]
    except DurationError as e:
        return [src.issue(at, f"{value!r} is not a duration ({e}); use e.g. 12h")]
    return []


@dataclass(frozen=True, slots=True)
class TlsServerConfig:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: str | None = None
    max_version: str | None = None
    cipher_suites: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FailedLoginLimits:
    per_account: int = 5
    per_address: int = 20
    window_ms: int = 15 * 60 * 1000


_SCOPES = ("openid", "profile", "email", "groups")


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """Sign-in through an OpenID Connect provider (Authorization Code + PKCE)."""

    issuer: str
    client_id: str
    client_secret: str = ""
    redirect_url: str = ""  # default: <external URL>/-/auth/oidc/callback
    scopes: tuple[str, ...] = ("openid", "profile", "email", "groups")
    username_claim: str = "preferred_username"
    roles_claim: str = "groups"
    roles: dict[str, str] = field(default_factory=dict)  # claim value -> role; the highest wins
    default_role: str | None = None  # role when no claim value matches; None: refuse the sign-in


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A loaded web config; ``WebConfig()`` is the default: no TLS, no authentication."""

    file: str = ""
    tls: TlsServerConfig | None = None
    http2: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # name -> bcrypt hash
    roles: dict[str, str] = field(default_factory=dict)  # name -> viewer|editor|admin
    default_role: str = "admin"
    public: frozenset[str] = frozenset()
    session_max_age_ms: int = 12 * 3600 * 1000
    failed_logins: FailedLoginLimits = field(default_factory=FailedLoginLimits)
    oidc: OidcConfig | None = None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.users) or self.oidc is not None

    def role_of(self, user: str) -> str:
        return self.roles.get(user, self.default_role)


def load_web_config(path: str) -> WebConfig:
    """The web config at ``path``; ``ConfigError`` with every problem when it does not load."""
    issues = [i for i in check_web_config(path) if i.severity == "error"]
    src = load_yaml(path) if not issues else None
    if src is not None and isinstance(src.data, dict):
        tls = src.data.get("tls_server_config")
        if isinstance(tls, dict) and tls.get("client_allowed_sans"):
            issues.append(src.issue(("tls_server_config", "client_allowed_sans"),
                                    "client_allowed_sans is not supported by guardia; restrict clients "
                                    "with client_ca_file (a CA that signs only them)"))
        if isinstance(tls, dict) and (tls.get("cert") or tls.get("key")):
            issues.append(src.issue(("tls_server_config",), "inline cert/key are not supported by guardia; "
                                    "use cert_file and key_file", at_key=True))
        auth = tls.get("client_auth_type") if isinstance(tls, dict) else None
        if auth not in (None, "NoClientCert", "RequestClientCert") and not (
                isinstance(tls, dict) and tls.get("client_ca_file")):
            issues.append(src.issue(("tls_server_config", "client_auth_type"),
                                    f"client_auth_type {auth} needs client_ca_file (the CA that signs the "
                                    "client certificates)"))
    if issues:
        raise ConfigError(issues)
    assert src is not None
    data: dict[str, Any] = src.data if isinstance(src.data, dict) else {}
    base = Path(path).parent
    tls_cfg = None
    tls = data.get("tls_server_config")
    if isinstance(tls, dict):
        def rel(name: str | None) -> str | None:
            return None if not name else str(Path(name) if os.path.isabs(name) else base / name)

        tls_cfg = TlsServerConfig(
            cert_file=rel(tls["cert_file"]) or "", key_file=rel(tls["key_file"]) or "",
            client_auth_type=tls.get("client_auth_type") or "NoClientCert",
            client_ca_file=rel(tls.get("client_ca_file")), min_version=tls.get("min_version"),
            max_version=tls.get("max_version"), cipher_suites=tuple(tls.get("cipher_suites") or ()))
    http = data.get("http_server_config") or {}
    g = data.get("guardia") or {}
    failed = g.get("failed_logins") or {}
    o = g.get("oidc")
    oidc = None
    if isinstance(o, dict):
        secret = str(o.get("client_secret") or "")
        if o.get("client_secret_file"):
            f = Path(str(o["client_secret_file"]))
            secret = (f if f.is_absolute() else base / f).read_text().strip()
        oidc = OidcConfig(
            issuer=str(o["issuer"]).rstrip("/"), client_id=str(o["client_id"]), client_secret=secret,
            redirect_url=str(o.get("redirect_url") or ""), scopes=tuple(o.get("scopes") or _SCOPES),
            username_claim=str(o.get("username_claim") or "preferred_username"),
            roles_claim=str(o.get("roles_claim") or "groups"),
            roles={str(k): str(v) for k, v in (o.get("roles") or {}).items()},
            default_role=o.get("default_role"))
    return WebConfig(
        oidc=oidc,
        file=path, tls=tls_cfg, http2=http.get("http2", True) is not False,
        headers={str(k): str(v) for k, v in (http.get("headers") or {}).items()},
        users={str(k): str(v) for k, v in (data.get("basic_auth_users") or {}).items()},
        roles={str(k): str(v) for k, v in (g.get("roles") or {}).items()},
        default_role=g.get("default_role") or "admin",
        public=frozenset(g.get("public") or ()),
        session_max_age_ms=parse_duration(str(g.get("session_max_age") or "12h")),
        failed_logins=FailedLoginLimits(
            per_account=failed.get("per_account", 5), per_address=failed.get("per_address", 20),
            window_ms=parse_duration(str(failed.get("window") or "15m"))),
    )
