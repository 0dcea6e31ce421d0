"""The shared HTTP client block: one Authorization header and one TLS context for every client."""

import base64
import ssl
from pathlib import Path

from guardia.config.httpclient import HTTPClientConfig, TLSConfig, authorization_header, ssl_context
from guardia.config.receivers.base import HTTPConfig
from guardia.config.secrets import Secret


def _basic(value: str | None) -> str:
    assert value is not None and value.startswith("Basic ")
    return base64.b64decode(value[6:]).decode()


def test_it_builds_basic_auth_from_inline_values_and_files(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("alice\n")
    (tmp_path / "pw").write_text("s3cret\n")
    inline = HTTPClientConfig.model_validate({"basic_auth": {"username": "bob", "password": "pw"}})
    files = HTTPClientConfig.model_validate({"basic_auth": {
        "username_file": str(tmp_path / "user"), "password_file": str(tmp_path / "pw")}})
    assert _basic(authorization_header(inline)) == "bob:pw"
    assert _basic(authorization_header(files)) == "alice:s3cret"


def test_it_reads_typed_credentials_and_bearer_tokens(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file\n")
    typed = HTTPClientConfig.model_validate({"authorization": {"type": "Token", "credentials": "abc"}})
    bearer = HTTPClientConfig(bearer_token=Secret("xyz"))
    bearer_file = HTTPClientConfig(bearer_token_file=str(tmp_path / "tok"))
    assert authorization_header(typed) == "Token abc"
    assert authorization_header(bearer) == "Bearer xyz"
    assert authorization_header(bearer_file) == "Bearer from-file"
    assert authorization_header(HTTPClientConfig()) is None


def test_it_applies_tls_versions_and_skip_verify() -> None:
    ctx = ssl_context(TLSConfig(min_version="TLS12", max_version="TLS13", insecure_skip_verify=True))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    assert ssl_context(None).verify_mode == ssl.CERT_REQUIRED


def test_alertmanager_http_config_is_the_prometheus_block() -> None:
    assert HTTPConfig is HTTPClientConfig
