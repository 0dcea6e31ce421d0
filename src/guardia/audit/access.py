"""Who can reach guardia and how: the facts behind readiness's "auth and TLS on" item.

Two sources, each giving facts with their evidence.  The web config (``--web.config.file``:
exporter-toolkit's ``tls_server_config`` and ``basic_auth_users`` plus guardia's ``guardia:``
section) says what the server is set to do, line by line; a live ``--url`` says what it does
(an unauthenticated request to an admin-only route, the certificate it serves).  A fact is
``ok=True`` (good), ``False`` (a reason for FAIL) or ``None`` (worth knowing, decides nothing).
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from guardia.audit.live import redact_url
from guardia.config.errors import ConfigError
from guardia.config.webconfig import WebConfig, check_web_config, load_web_config
from guardia.config.yamlsource import YamlSource, load_yaml

# An admin-only route in guardia (the running config) and in Prometheus with a web config.
ADMIN_PROBE = "/api/v1/status/config"
WEAK_TLS = ("TLS10", "TLS11")
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Fact:
    ok: bool | None
    text: str
    file: str = ""
    line: int | None = None
    query: str = ""
    value: str = ""


@dataclass(slots=True)
class Access:
    tls: bool | None = None  # None: not known from this source
    auth: bool | None = None
    facts: list[Fact] | None = None
    cert_file: str = ""  # the web config's certificate, to compare with the one served

    def add(self, f: Fact) -> None:
        if self.facts is None:
            self.facts = []
        self.facts.append(f)


def _cert_info(path: str) -> tuple[str, float, str]:
    """(subject, not-after as unix seconds, SHA-256 of the DER) of the first certificate in ``path``.

    cryptography is imported here, with the first certificate read: ``guardia serve`` imports
    this module for its readiness page, and without TLS configured it would keep the library
    (about 6.6 MiB resident) for nothing."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return (cert.subject.rfc4514_string(), cert.not_valid_after_utc.timestamp(),
            hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest())


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def from_web_config(path: str, now: float) -> Access:
    """What the web config at ``path`` turns on, each fact at its file and line."""
    acc = Access()
    issues = [i for i in check_web_config(path) if i.severity == "error"]
    try:
        cfg = load_web_config(path) if not issues else None
    except ConfigError as e:
        issues, cfg = [i for i in e.issues if i.severity == "error"], None
    if cfg is None:
        for i in issues:
            where = f"{i.path}: " if i.path else ""
            acc.add(Fact(False, f"{where}{i.message} (guardia serve refuses to start with this file)",
                         i.file, i.line))
        acc.tls = acc.auth = False
        return acc
    src = load_yaml(path)
    _tls_facts(acc, cfg, src, path, now)
    _auth_facts(acc, cfg, src, path)
    return acc


def _line(src: YamlSource, *path: str) -> int | None:
    """The line of the key ``path`` (where a reader looks for it), else of its value."""
    key = src.key_marks.get(path)
    return key[0] if key else src.mark(path)[0]


def _tls_facts(acc: Access, cfg: WebConfig, src: YamlSource, path: str, now: float) -> None:
    tls = cfg.tls
    if tls is None:
        acc.tls = False
        acc.add(Fact(False, "no tls_server_config: guardia serves plain HTTP, so passwords, tokens and "
                     "session cookies cross the network readable", path, None))
        return
    acc.tls = True
    acc.cert_file = tls.cert_file
    try:
        subject, not_after, fp = _cert_info(tls.cert_file)
    except (OSError, ValueError) as e:
        acc.tls = False
        acc.add(Fact(False, f"tls_server_config.cert_file {tls.cert_file} does not load: {e}", path,
                     _line(src, "tls_server_config", "cert_file")))
        return
    ok: bool | None = True
    note = ""
    if not_after <= now:
        ok, note = False, " (expired: clients refuse it)"
        acc.tls = False
    elif not_after - now < 14 * DAY:
        note = f" (expires in {(not_after - now) / DAY:.0f} days: renew it)"
    acc.add(Fact(ok, f"TLS on: cert_file {tls.cert_file} ({subject}, valid until {_day(not_after)}{note}) "
                 f"and key_file load as a pair", path, _line(src, "tls_server_config", "cert_file"),
                 value=f"sha256:{fp}"))
    if tls.min_version in WEAK_TLS:
        acc.tls = False
        acc.add(Fact(False, f"min_version {tls.min_version} allows TLS versions with known weaknesses; use "
                     "TLS12 (the default) or TLS13", path, _line(src, "tls_server_config", "min_version")))
    if tls.client_auth_type not in ("NoClientCert", "RequestClientCert"):
        acc.add(Fact(None, f"client certificates: {tls.client_auth_type} against {tls.client_ca_file}", path,
                     _line(src, "tls_server_config", "client_auth_type")))


def _auth_facts(acc: Access, cfg: WebConfig, src: YamlSource, path: str) -> None:
    if not cfg.auth_enabled:
        acc.auth = False
        acc.add(Fact(False, "no basic_auth_users and no guardia.oidc: no sign-in, so anyone who reaches the "
                     "port is admin (reload, delete series, read the running config)", path,
                     _line(src, "guardia") if "guardia" in (src.data or {}) else None))
        return
    acc.auth = True
    if cfg.users:
        roles = ", ".join(f"{u} ({cfg.role_of(u)})" for u in sorted(cfg.users))
        acc.add(Fact(True, f"sign-in required: {len(cfg.users)} basic-auth users with bcrypt hashes: {roles}",
                     path, _line(src, "basic_auth_users")))
        defaulted = sorted(u for u in cfg.users if u not in cfg.roles)
        if cfg.default_role == "admin" and defaulted:
            acc.add(Fact(None, f"{', '.join(defaulted)} {'is' if len(defaulted) == 1 else 'are'} admin only "
                         "because guardia.default_role is admin (the default): give each user the role they "
                         "need in guardia.roles", path,
                         _line(src, "guardia", "default_role") or _line(src, "basic_auth_users")))
    if cfg.oidc is not None:
        acc.add(Fact(True, f"single sign-on through {cfg.oidc.issuer}", path, _line(src, "guardia", "oidc")))
        if cfg.oidc.default_role == "admin":
            acc.add(Fact(None, "an SSO user in none of the mapped groups becomes admin "
                         "(guardia.oidc.default_role: admin)", path,
                         _line(src, "guardia", "oidc", "default_role")))
    opened = sorted(cfg.public)
    acc.add(Fact(True, "no anonymous admin: without credentials only the sign-in page"
                 + (f" and the public groups {', '.join(opened)} (none of them an admin route) are open"
                    if opened else " is open (guardia.public lists nothing)"),
                 path, _line(src, "guardia", "public") if opened else None))


def from_url(url: str, cert_file: str = "", timeout: float = 10.0) -> Access:
    """What the server at ``url`` does: HTTPS or not, an unauthenticated request to an
    admin-only route, and (given ``cert_file``) whether it serves that certificate."""
    acc = Access()
    base = redact_url(url).rstrip("/")
    p = urlsplit(base)
    import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

    try:
        r = httpx.get(base + ADMIN_PROBE, timeout=timeout, verify=False)
    except httpx.HTTPError as e:
        acc.add(Fact(None, f"{base} did not answer: {type(e).__name__}: {e}", query=base + ADMIN_PROBE))
        return acc
    acc.tls = p.scheme == "https"
    if not acc.tls:
        acc.add(Fact(False, f"{base} is plain HTTP", query=base))
    acc.auth = r.status_code in (401, 403)
    acc.add(Fact(acc.auth, "an unauthenticated GET of an admin-only route "
                 + ("is refused" if acc.auth else "is answered: anonymous admin" if r.status_code == 200
                    else "gets an unexpected answer"),
                 query=base + ADMIN_PROBE, value=f"HTTP {r.status_code}"))
    if acc.tls and cert_file:
        try:
            served = ssl.get_server_certificate((p.hostname or "localhost", p.port or 443), timeout=timeout)
            served_fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest()
            _, _, want_fp = _cert_info(cert_file)
        except (OSError, ValueError) as e:
            acc.add(Fact(None, f"the certificate served at {p.netloc} could not be compared: {e}"))
            return acc
        same = served_fp == want_fp
        acc.add(Fact(same, f"{p.netloc} serves "
                     + ("the certificate of cert_file" if same else
                        "another certificate than cert_file: the web config given is not the one it serves "
                        "with (or a proxy terminates TLS in front of it)"),
                     query=f"TLS handshake with {p.netloc}", value=f"sha256:{served_fp}"))
        if not same:
            acc.tls = False
    return acc
