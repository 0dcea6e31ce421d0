"""Loading ``--web.config.file``: exporter-toolkit files as they are, guardia's ``guardia:``
section, and bad files refused with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.config.errors import ConfigError
from guardia.config.webconfig import load_web_config
from guardia.server import GuardiaProcess, ServeOptions
from tests.web.auth.conftest import bcrypt_hash, make_chain

# a fixed salt: the hash is part of parametrized test ids, which must be the same in every
# process that collects them (pytest-xdist workers compare their collections)
HASH = bcrypt_hash("pw", salt="Guardia.tests.salt.abe")


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "web.yml"
    p.write_text(text)
    return str(p)


def test_an_exporter_toolkit_file_loads_and_every_user_is_an_admin(tmp_path: Path) -> None:
    make_chain(tmp_path)
    cfg = load_web_config(
        _write(
            tmp_path,
            f"""
tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
http_server_config:
  http2: false
  headers:
    X-Frame-Options: sameorigin
basic_auth_users:
  alice: {HASH}
""",
        )
    )
    assert cfg.tls is not None and cfg.tls.cert_file == str(tmp_path / "server.pem")
    assert cfg.tls.client_auth_type == "RequireAndVerifyClientCert" and not cfg.http2
    assert cfg.headers == {"X-Frame-Options": "sameorigin"}
    assert cfg.auth_enabled and cfg.role_of("alice") == "admin" and cfg.public == frozenset()


def test_the_guardia_section_gives_roles_public_groups_and_limits(tmp_path: Path) -> None:
    cfg = load_web_config(
        _write(
            tmp_path,
            f"""
basic_auth_users: {{alice: {HASH}, bob: {HASH}}}
guardia:
  roles: {{bob: viewer}}
  default_role: editor
  public: [health, status_pages]
  session_max_age: 1h
  failed_logins: {{per_account: 3, per_address: 10, window: 5m}}
""",
        )
    )
    assert cfg.role_of("bob") == "viewer" and cfg.role_of("alice") == "editor"
    assert cfg.public == {"health", "status_pages"} and cfg.session_max_age_ms == 3_600_000
    assert (cfg.failed_logins.per_account, cfg.failed_logins.per_address, cfg.failed_logins.window_ms) == (
        3,
        10,
        300_000,
    )


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (
            "basic_auth_users:\n  alice: secret\n",
            ":2:",
            "basic_auth_users.alice: the password of 'alice' is not a bcrypt",
        ),
        (
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n",
            ":2:",
            "tls_server_config.cert_file: nope.pem: no such file",
        ),
        ("tls_server_config:\n  cert_file: server.pem\n", ":1:", "missing key_file"),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
            "  client_auth_type: Sometimes\n",
            ":4:",
            "invalid client_auth_type 'Sometimes'",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
            "  client_auth_type: RequireAndVerifyClientCert\n",
            ":4:",
            "needs client_ca_file",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
            "  client_allowed_sans: [a]\n",
            ":4:",
            "client_allowed_sans is not supported",
        ),
        ("http_server_config:\n  headers:\n    Server: guardia\n", ":3:", "header 'Server' cannot be set"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", ":3:", "invalid value 'allow'"),
        (f"basic_auth_users: {{a: {HASH}}}\nguardia:\n  roles: {{a: root}}\n", ":3:", "unknown role 'root'"),
        (
            f"basic_auth_users: {{a: {HASH}}}\nguardia:\n  roles: {{b: viewer}}\n",
            ":3:",
            "'b' is not in basic_auth_users",
        ),
        ("guardia:\n  public: [metrics]\n", ":2:", "unknown public group 'metrics'"),
        ("guardia:\n  session_max_age: forever\n", ":2:", "'forever' is not a duration"),
        ("guardia:\n  failed_logins: {per_account: 0}\n", ":2:", "per_account is a whole number"),
        ("guardia:\n  sesion_max_age: 1h\n", ":2:", "unknown field 'sesion_max_age'"),
        ("basic_auth_user:\n  a: b\n", ":1:", "unknown field 'basic_auth_user'"),
        ("guardia:\n  oidc:\n    client_id: g\n", ":3:", "issuer is the identity provider's URL"),
        ("guardia:\n  oidc: {issuer: 'https://sso.example', client_id: g, roles: {sre: boss}}\n", ":2:",
         "guardia.oidc.roles.sre: unknown role 'boss'"),
        ("guardia:\n  oidc: {issuer: 'https://sso.example', client_id: g, client_secret_file: nope}\n", ":2:",
         "nope: no such file"),
    ],
)
def test_a_bad_file_is_refused_naming_line_and_field(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    make_chain(tmp_path)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_web_config(path)
    message = str(e.value)
    assert f"web.yml{where}" in message and says in message, message


async def test_guardia_serve_refuses_to_start_on_a_bad_web_config(tmp_path: Path) -> None:
    (tmp_path / "guardia.yml").write_text("scrape_configs: []\n")
    path = _write(tmp_path, "basic_auth_users:\n  alice: plain-text\n")
    proc = GuardiaProcess(
        ServeOptions(
            config_file=str(tmp_path / "guardia.yml"),
            listen_address="127.0.0.1:0",
            storage_path=str(tmp_path / "data"),
            web_config_file=path,
        )
    )
    with pytest.raises(ConfigError, match="not a bcrypt hash"):
        await proc.start()
    assert not (tmp_path / "data").exists()  # refused before anything was opened
