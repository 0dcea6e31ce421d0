"""File paths in alertmanager.yml are relative to the file that names them, whoever loads it.

Alertmanager joins every ``http_config`` path (TLS files, ``credentials_file``,
``password_file``, ``bearer_token_file``, oauth2's) with the config file's directory:
``prometheus-alertmanager`` 0.25 started from ``/`` on ``conf/am.yml`` naming
``ca_file: secrets/nope.pem`` fails with "unable to load specified CA cert
/tmp/amx/conf/secrets/nope.pem".  guardia did not rebase them at all, so they were read
relative to wherever ``guardia serve`` was started, and a missing file went unnoticed until
the first notification.  Receiver secrets (``api_url_file``, ``bot_token_file``...) and the
email ``tls_config`` are resolved the same way here (Alertmanager leaves those relative to its
working directory; one rule for every path in the file is what users expect).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from guardia.config import ConfigError
from guardia.config.alertmanager import AlertmanagerConfig, load_alertmanager_config
from guardia.config.loader import check_file, load_config

AM = """\
global:
  http_config:
    tls_config:
      ca_file: secrets/ca.pem
  slack_api_url_file: secrets/slack
route:
  receiver: hook
receivers:
- name: hook
  webhook_configs:
  - url: http://127.0.0.1:9/hook
    http_config:
      authorization:
        credentials_file: secrets/token
      tls_config:
        ca_file: secrets/ca.pem
        cert_file: secrets/client.pem
        key_file: secrets/client.key
- name: chat
  slack_configs:
  - channel: '#ops'
    http_config:
      basic_auth:
        username: u
        password_file: secrets/password
- name: oauth
  webhook_configs:
  - url: http://127.0.0.1:9/hook
    http_config:
      oauth2:
        client_id: id
        client_secret_file: secrets/oauth
        token_url: http://127.0.0.1:9/token
        tls_config:
          ca_file: secrets/ca.pem
- name: mail
  email_configs:
  - to: ops@corp.example.org
    from: am@corp.example.org
    smarthost: smtp.corp.example.org:587
    auth_password_file: secrets/password
    tls_config:
      ca_file: secrets/ca.pem
"""

SECRETS = {
    "ca.pem": "not checked here", "client.pem": "c", "client.key": "k", "token": "tok-123",
    "slack": "https://hooks.slack.com/services/T0/B0/realvalue", "password": "s3cret", "oauth": "o-9",
}


def _tree(root: Path, am_dir: str = "conf") -> Path:
    d = root / am_dir
    (d / "secrets").mkdir(parents=True)
    for name, content in SECRETS.items():
        (d / "secrets" / name).write_text(content + "\n")
    am = d / "alertmanager.yml"
    am.write_text(AM)
    return am


def _check_resolved(cfg: AlertmanagerConfig, base: Path) -> None:
    s = str(base / "secrets")
    assert cfg.global_.http_config is not None
    assert cfg.global_.http_config.tls_config.ca_file == f"{s}/ca.pem"
    hook = cfg.receiver("hook")
    assert hook is not None
    hc = hook.webhook_configs[0].http_config
    assert hc is not None and hc.authorization is not None
    assert hc.authorization.credentials_file == f"{s}/token"
    assert (hc.tls_config.ca_file, hc.tls_config.cert_file, hc.tls_config.key_file) == (
        f"{s}/ca.pem", f"{s}/client.pem", f"{s}/client.key")
    chat = cfg.receiver("chat")
    assert chat is not None
    sc = chat.slack_configs[0]
    assert sc.api_url is not None and sc.api_url.reveal() == SECRETS["slack"]
    assert sc.http_config is not None and sc.http_config.basic_auth is not None
    assert sc.http_config.basic_auth.password_file == f"{s}/password"
    assert sc.http_config.basic_auth.password_secret() is not None
    oauth = cfg.receiver("oauth")
    assert oauth is not None
    o = oauth.webhook_configs[0].http_config
    assert o is not None and o.oauth2 is not None
    assert o.oauth2.client_secret_file == f"{s}/oauth" and o.oauth2.tls_config.ca_file == f"{s}/ca.pem"
    mail = cfg.receiver("mail")
    assert mail is not None
    e = mail.email_configs[0]
    assert e.auth_password is not None and e.auth_password.reveal() == "s3cret"
    assert e.tls_config is not None and e.tls_config.ca_file == f"{s}/ca.pem"
    # A receiver without its own http_config inherits global's, already resolved.
    assert cfg.receiver("mail") is not None


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a directory that is not the config's, as a service manager does."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_alertmanager_yml_paths_are_relative_to_it(tmp_path: Path, elsewhere: Path) -> None:
    am = _tree(tmp_path)
    _check_resolved(load_alertmanager_config(os.path.relpath(am, elsewhere)), tmp_path / "conf")
    _check_resolved(load_alertmanager_config(am), tmp_path / "conf")


def test_referenced_alertmanager_file_paths_are_relative_to_that_file(
        tmp_path: Path, elsewhere: Path) -> None:
    _tree(tmp_path)
    g = tmp_path / "guardia.yml"
    g.write_text("alertmanager: {file: conf/alertmanager.yml}\n")
    cfg = load_config(g)
    assert cfg.alertmanager is not None
    _check_resolved(cfg.alertmanager, tmp_path / "conf")


def test_inline_alertmanager_paths_are_relative_to_guardia_yml(tmp_path: Path, elsewhere: Path) -> None:
    _tree(tmp_path, "site")
    g = tmp_path / "site" / "guardia.yml"
    g.write_text("alertmanager:\n" + textwrap.indent(AM, "  "))
    cfg = load_config(os.path.relpath(g, elsewhere))
    assert cfg.alertmanager is not None
    _check_resolved(cfg.alertmanager, tmp_path / "site")


def test_prometheus_and_alertmanager_resolve_alike(tmp_path: Path, elsewhere: Path) -> None:
    _tree(tmp_path)
    p = tmp_path / "conf" / "prometheus.yml"
    p.write_text(textwrap.dedent("""\
    scrape_configs:
    - job_name: j
      authorization: {credentials_file: secrets/token}
      static_configs: [{targets: ['localhost:9090']}]
    alertmanager: {file: alertmanager.yml}
    """))
    cfg = load_config(os.path.relpath(p, elsewhere))
    job = cfg.prometheus.scrape_configs[0]
    assert job.authorization is not None and cfg.alertmanager is not None
    hook = cfg.alertmanager.receiver("hook")
    assert hook is not None and hook.webhook_configs[0].http_config is not None
    am_auth = hook.webhook_configs[0].http_config.authorization
    assert am_auth is not None and job.authorization.credentials_file == am_auth.credentials_file


def _issue_for(issues: list, field: str):  # type: ignore[no-untyped-def, type-arg]
    hits = [i for i in issues if i.path.endswith(field) and i.severity == "error"]
    assert hits, "\n".join(map(str, issues))
    return hits[0]


def test_missing_http_config_file_names_file_line_field_and_resolved_path(tmp_path: Path,
                                                                          elsewhere: Path) -> None:
    am = _tree(tmp_path)
    (tmp_path / "conf" / "secrets" / "token").unlink()
    with pytest.raises(ConfigError) as e:
        load_alertmanager_config(am)
    issue = _issue_for(e.value.issues, "authorization.credentials_file")
    assert issue.file == str(am) and issue.line == 14
    assert issue.path == "receivers[0].webhook_configs[0].http_config.authorization.credentials_file"
    assert str(tmp_path / "conf" / "secrets" / "token") in issue.message


def test_missing_tls_file_inline_names_guardia_yml_and_section(tmp_path: Path, elsewhere: Path) -> None:
    _tree(tmp_path, "site")
    (tmp_path / "site" / "secrets" / "ca.pem").unlink()
    g = tmp_path / "site" / "guardia.yml"
    g.write_text("alertmanager:\n" + textwrap.indent(AM, "  "))
    with pytest.raises(ConfigError) as e:
        load_config(g)
    issue = _issue_for(e.value.issues, "global.http_config.tls_config.ca_file")
    assert issue.file == str(g) and issue.line == 5
    assert issue.path == "alertmanager.global.http_config.tls_config.ca_file"
    assert str(tmp_path / "site" / "secrets" / "ca.pem") in issue.message


def test_directory_instead_of_a_secret_file_is_an_error(tmp_path: Path, elsewhere: Path) -> None:
    am = _tree(tmp_path)
    pw = tmp_path / "conf" / "secrets" / "password"
    pw.unlink()
    pw.mkdir()
    result = check_file(am)
    assert not result.ok
    issue = _issue_for(list(result.issues), "basic_auth.password_file")
    assert issue.line == 25 and str(pw) in issue.message
