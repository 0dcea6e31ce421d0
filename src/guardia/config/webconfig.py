"""The Prometheus web configuration file (``--web.config.file``: TLS and basic auth for the
HTTP server), checked as ``promtool check web-config`` checks it.

A web config that does not load keeps the server from starting, and a plain-text password
where a bcrypt hash belongs locks everyone out, so both are worth catching before a deploy.
Every problem names file, line and field.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.yamlsource import YamlSource, load_yaml

_TLS_FIELDS = {"cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file", "client_ca",
               "cipher_suites", "curve_preferences", "min_version", "max_version",
               "prefer_server_cipher_suites", "client_allowed_sans"}
_TOP = {"tls_server_config", "http_server_config", "basic_auth_users"}
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
