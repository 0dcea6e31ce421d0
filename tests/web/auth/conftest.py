"""A guardia process with a web config (users of each role, API tokens), and a certificate
chain (CA, server, client) made here with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guardia.server import GuardiaProcess, ServeOptions

PASSWORDS = {"ada": "admin-pass-1", "eve": "editor-pass-2", "vic": "viewer-pass-3"}
ROLES = {"ada": "admin", "eve": "editor", "vic": "viewer"}

CONFIG = """
global: {scrape_interval: 1h, evaluation_interval: 1h}
scrape_configs:
  - job_name: down
    static_configs: [{targets: ["127.0.0.1:1"]}]
probes:
  - name: backup
    heartbeat: {token: nightly-backup-7f3a9c2e, period: 24h, grace: 1h}
status_pages:
  - slug: public
    title: Status
    groups: [{name: Jobs, probes: [backup]}]
alertmanager:
  route: {receiver: team}
  receivers: [{name: team}]
"""


def bcrypt_hash(password: str, salt: str = "") -> str:
    """A cheap (4-round) hash; ``salt`` (22 characters of bcrypt's alphabet) makes it fixed."""
    s = f"$2b$04${salt}".encode() if salt else bcrypt.gensalt(rounds=4)
    return bcrypt.hashpw(password.encode(), s).decode()


def web_yaml(extra: str = "", guardia: str = "") -> str:
    users = "\n".join(f"  {u}: {bcrypt_hash(p)}" for u, p in PASSWORDS.items())
    roles = ", ".join(f"{u}: {r}" for u, r in ROLES.items())
    return (
        f"basic_auth_users:\n{users}\n{extra}"
        f"guardia:\n  roles: {{{roles}}}\n  public: [health, status_pages, badges, heartbeats]\n{guardia}"
    )


@asynccontextmanager
async def running(tmp_path: Path, web: str | None, **opts: object) -> AsyncIterator[GuardiaProcess]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    web_file = None
    if web is not None:
        web_file = tmp_path / "web.yml"
        web_file.write_text(web)
    proc = GuardiaProcess(
        ServeOptions(
            config_file=str(cfg),
            listen_address="127.0.0.1:0",
            storage_path=str(tmp_path / "data"),
            web_config_file=str(web_file) if web_file else None,
            **opts,
        )
    )  # type: ignore[arg-type]
    await proc.start()
    try:
        yield proc
    finally:
        await proc.shutdown()


@dataclass(frozen=True)
class Chain:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path  # signed by a CA the server does not trust
    other_client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    cn: str,
    server: bool,
    cert_path: Path,
    key_path: Path,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = b.sign(ca_key, hashes.SHA256())
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)


def make_chain(d: Path) -> Chain:
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("guardia test CA")
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _leaf(ca, ca_key, "localhost", True, d / "server.pem", d / "server.key")
    _leaf(ca, ca_key, "prometheus", False, d / "client.pem", d / "client.key")
    rogue, rogue_key = _ca("someone else's CA")
    _leaf(rogue, rogue_key, "intruder", False, d / "other.pem", d / "other.key")
    return Chain(
        d / "ca.pem",
        d / "server.pem",
        d / "server.key",
        d / "client.pem",
        d / "client.key",
        d / "other.pem",
        d / "other.key",
    )
