"""load_config / reload / dump_redacted: resolution against the config directory, every issue
across files collected, secrets never shown."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from guardia.config import ConfigError
from guardia.config.kinds import Kind
from guardia.config.loader import Config, check_file, dump_redacted, load_config, reload
from guardia.config.schema import ValidationError

EXAMPLES = Path(__file__).parents[2] / "examples"
REAL_SECRET = "Zq8-real-S3cret-v4lue"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_grupo_gad_prometheus_loads_with_its_rules() -> None:
    cfg = load_config(EXAMPLES / "grupo-gad" / "prometheus.yml")
    assert cfg.kind is Kind.PROMETHEUS
    p = cfg.prometheus
    assert p.global_.external_labels == {"cluster": "grupo_gad_production", "environment": "production"}
    assert [j.job_name for j in p.scrape_configs] == [
        "prometheus", "api", "postgres", "redis", "node", "alertmanager",
    ]
    api = p.scrape_config("api")
    assert api is not None and (api.scrape_interval, api.scrape_timeout) == (10_000, 10_000)
    assert p.scrape_config("node").scrape_interval == 15_000  # type: ignore[union-attr]
    assert cfg.rule_files == (os.path.normpath(str(EXAMPLES / "grupo-gad" / "alerts.yml")),)
    alerts = [r.name for f in cfg.rules for g in f.groups for r in g.rules]
    assert len(alerts) == 18 and alerts[0] == "APIDown" and "HighWebSocketBroadcastErrors" in alerts
    assert cfg.alertmanager is None and cfg.warnings == ()


def test_cepcomunicacion_rule_globs_are_resolved_relative_to_the_config() -> None:
    cfg = load_config(EXAMPLES / "cepcomunicacion" / "prometheus.yml")
    names = [Path(f).relative_to(EXAMPLES / "cepcomunicacion").as_posix() for f in cfg.rule_files]
    assert names == ["alerts/application.yml", "alerts/infrastructure.yml", "rules/recording.yml"]
    assert sum(len(g.rules) for f in cfg.rules for g in f.groups) == 14


def test_issues_from_every_file_are_collected_at_once(tmp_path: Path) -> None:
    write(tmp_path / "rules" / "a.yml", """\
        groups:
          - name: a
            rules:
              - alert: Broken
                expr: rate(x[5m]
        """)
    write(tmp_path / "rules" / "b.yml", """\
        groups:
          - name: b
            rules:
              - record: bad-name
                expr: up
        """)
    cfg = write(tmp_path / "prometheus.yml", """\
        global:
          scrape_interval: 10s
          scrape_timeout: 20s
        rule_files: ['rules/*.yml', 'missing.yml', 'nothing/*.yml']
        scrape_configs:
          - job_name: a
            static_configs: [{targets: ['a:1']}]
        """)
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    # The PromQL parser's own wording belongs to guardia.promql; only its presence matters here.
    got = sorted(re.sub(r"could not parse expression: .*unclosed left parenthesis",
                        "could not parse expression: <unclosed left parenthesis>", str(i))
                 for i in e.value.issues)
    rules = tmp_path / "rules"
    assert got == sorted([
        f"{cfg}:3:19: global.scrape_timeout: global scrape timeout greater than scrape interval "
        "(a scrape would still be running when the next one starts)",
        f"{cfg}:4:29: rule_files[1]: rule file '{tmp_path}/missing.yml' does not exist (paths are relative "
        "to the config file's directory)",
        f"{cfg}:4:44: warning: rule_files[2]: rule_files pattern '{tmp_path}/nothing/*.yml' matches no "
        "files; no rules will be loaded from it",
        f'{rules}/a.yml:5:15: groups[0].rules[0].expr: group "a", rule 1, "Broken": could not parse '
        "expression: <unclosed left parenthesis>",
        f"{rules}/b.yml:4:17: groups[0].rules[0].record: group \"b\", rule 1: invalid recording rule name: "
        "'bad-name' (metric names use letters, digits, _ and :, not starting with a digit)",
    ])


def test_secret_files_are_resolved_relative_to_the_config_dir(tmp_path: Path) -> None:
    write(tmp_path / "secrets" / "pass", REAL_SECRET + "\n")
    cfg_path = write(tmp_path / "prometheus.yml", """\
        scrape_configs:
          - job_name: a
            basic_auth: {username: prom, password_file: secrets/pass}
            static_configs: [{targets: ['a:1']}]
        """)
    cfg = load_config(cfg_path)
    ba = cfg.prometheus.scrape_configs[0].basic_auth
    assert ba is not None and ba.password_file == str(tmp_path / "secrets" / "pass")
    secret = ba.password_secret()
    assert secret is not None and secret.reveal() == REAL_SECRET


def test_missing_and_placeholder_secret_files_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "token", "changeme\n")
    cfg_path = write(tmp_path / "prometheus.yml", """\
        scrape_configs:
          - job_name: a
            authorization: {credentials_file: token}
            static_configs: [{targets: ['a:1']}]
          - job_name: b
            basic_auth: {username: u, password_file: nope}
            tls_config: {ca_file: ca.pem}
            static_configs: [{targets: ['a:1']}]
        """)
    with pytest.raises(ConfigError) as e:
        load_config(cfg_path)
    got = [f"{i.line}:{i.column} {i.path}: {i.message}" for i in e.value.issues]
    assert got == [
        f"3:39 scrape_configs[0].authorization.credentials_file: the secret in credentials_file "
        f"'{tmp_path}/token' is a placeholder, not a real secret; write the real value to the file",
        f"6:46 scrape_configs[1].basic_auth.password_file: password_file '{tmp_path}/nope' does not exist "
        "or is not a file",
        f"7:27 scrape_configs[1].tls_config.ca_file: ca_file '{tmp_path}/ca.pem' does not exist or is not a "
        "file",
    ]


def test_secrets_never_appear_in_errors_or_dumps(tmp_path: Path) -> None:
    cfg_path = write(tmp_path / "prometheus.yml", f"""\
        scrape_configs:
          - job_name: a
            scrape_interval: 5s
            scrape_timeout: 6s
            basic_auth: {{username: prom, password: {REAL_SECRET}}}
            static_configs: [{{targets: ['a:1']}}]
        remote_write:
          - url: https://vm.example.net/api/v1/write
            authorization: {{credentials: {REAL_SECRET}}}
          - url: https://vm2.example.net/api/v1/write
            basic_auth: {{username: x, password: {REAL_SECRET}}}
            bearer_token: {REAL_SECRET}
        """)
    with pytest.raises(ConfigError) as e:
        load_config(cfg_path)
    assert REAL_SECRET not in str(e.value)
    assert REAL_SECRET not in repr(e.value.issues)
    cfg_path.write_text(cfg_path.read_text().replace("scrape_timeout: 6s", "scrape_timeout: 4s").replace(
        f"    bearer_token: {REAL_SECRET}\n", ""))
    cfg = load_config(cfg_path)
    dumped = dump_redacted(cfg)
    assert REAL_SECRET not in dumped and REAL_SECRET not in repr(cfg)
    assert dumped.count("<secret>") == 3
    assert "scrape_interval: 5s" in dumped and "scrape_timeout: 4s" in dumped


def test_dump_shows_prometheus_defaults(tmp_path: Path) -> None:
    one_job = "scrape_configs: [{job_name: a, static_configs: [{targets: ['a:1']}]}]\n"
    cfg = load_config(write(tmp_path / "p.yml", one_job))
    dumped = dump_redacted(cfg)
    for line in ("scrape_interval: 1m", "scrape_timeout: 10s", "evaluation_interval: 1m",
                 "metrics_path: /metrics", "scheme: http", "honor_timestamps: true", "job_name: a"):
        assert line in dumped, line


def test_external_labels_expand_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIA_TEST_REGION", "dfw")
    monkeypatch.delenv("GUARDIA_TEST_UNSET", raising=False)
    p = write(tmp_path / "p.yml", "global:\n  external_labels:\n    region: ${GUARDIA_TEST_REGION}\n")
    assert load_config(p).prometheus.global_.external_labels == {"region": "dfw"}
    p.write_text("global:\n  external_labels:\n    region: ${GUARDIA_TEST_UNSET}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}:3:13: global.external_labels.region: environment variable "
                                   "GUARDIA_TEST_UNSET is not set")


def test_guardia_yml_with_inline_alertmanager_and_sections(tmp_path: Path) -> None:
    p = write(tmp_path / "guardia.yml", """\
        global: {scrape_interval: 15s}
        scrape_configs:
          - job_name: app
            static_configs: [{targets: ['app:8000']}]
        alertmanager:
          route: {receiver: team}
          receivers:
            - name: team
              webhook_configs: [{url: 'http://hooks.internal:5001/alerts'}]
        probes:
          - name: homepage
            http: {url: 'https://shop.internal/'}
        checks: []
        web: {listen_address: '127.0.0.1:9090'}
        """)
    cfg = load_config(p)
    assert cfg.kind is Kind.GUARDIA
    assert cfg.alertmanager is not None and cfg.alertmanager.route is not None
    assert cfg.alertmanager.route.receiver == "team"
    assert cfg.probes[0]["name"] == "homepage" and cfg.web["listen_address"] == "127.0.0.1:9090"
    with pytest.raises(TypeError):
        cfg.probes[0]["name"] = "x"  # type: ignore[index]


def test_guardia_yml_alertmanager_errors_carry_the_section_prefix(tmp_path: Path) -> None:
    p = write(tmp_path / "guardia.yml", """\
        alertmanager:
          route: {receiver: nobody}
          receivers: [{name: team}]
        probes:
          - name: a
          - name: a
        web: [1]
        """)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    got = [f"{i.line}:{i.column} {i.path}: {i.message}" for i in e.value.issues]
    assert "6:11 probes[1].name: probes name 'a' is used twice (first at probes[0])" in got
    assert "7:6 web: web must be a mapping (e.g. listen_address: 0.0.0.0:9090)" in got
    am = [g for g in got if g.startswith("2:")]
    assert len(am) == 1 and am[0].startswith("2:21 alertmanager.route.receiver: ") and "nobody" in am[0]


def test_guardia_yml_alertmanager_file_is_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path / "am" / "alertmanager.yml", """\
        route: {receiver: team}
        receivers: [{name: team}]
        """)
    p = write(tmp_path / "guardia.yml", "alertmanager: {file: am/alertmanager.yml}\n")
    cfg = load_config(p)
    assert cfg.alertmanager is not None and cfg.alertmanager_file == str(tmp_path / "am" / "alertmanager.yml")


def test_load_config_refuses_other_kinds_with_advice() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(EXAMPLES / "grupo-gad" / "alertmanager.yml")
    assert "this is an alertmanager.yml" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(EXAMPLES / "grupo-gad" / "alerts.yml")
    assert "this is a rule file" in str(e.value)


def test_reload_keeps_the_old_config_on_a_broken_file(tmp_path: Path) -> None:
    p = write(tmp_path / "prometheus.yml",
              "scrape_configs: [{job_name: a, static_configs: [{targets: ['a:1']}]}]\n")
    old = load_config(p)
    p.write_text("scrape_configs: [{job_name: a, scrape_interval: 1x}]\n")
    kept, err = reload(old)
    assert kept is old and err is not None
    assert str(err).startswith(f"{p}:1:49: scrape_configs[0].scrape_interval: not a valid duration string")
    p.write_text("scrape_configs: [{job_name: b, static_configs: [{targets: ['b:1']}]}]\n")
    new, err = reload(old)
    assert err is None and new is not old and new.prometheus.scrape_configs[0].job_name == "b"
    # The old object was never touched.
    assert old.prometheus.scrape_configs[0].job_name == "a"


def test_reload_keeps_old_on_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    p = write(tmp_path / "prometheus.yml", "global: {}\n")
    old = load_config(p)
    p.write_text("global: [\n")
    assert reload(old)[0] is old and "invalid YAML" in str(reload(old)[1])
    p.unlink()
    kept, err = reload(old)
    assert kept is old and err is not None and "file not found" in str(err)


def test_config_is_immutable() -> None:
    cfg = load_config(EXAMPLES / "grupo-gad" / "prometheus.yml")
    with pytest.raises(AttributeError):
        cfg.prometheus = cfg.prometheus  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        cfg.prometheus.scrape_configs[0].job_name = "x"
    assert isinstance(cfg, Config)


def test_check_file_reports_unknown_kind(tmp_path: Path) -> None:
    p = write(tmp_path / "x.yml", "hello: world\n")
    r = check_file(p)
    assert r.kind is Kind.UNKNOWN and not r.ok
    assert "cannot tell what kind of file this is" in r.issues[0].message


@pytest.mark.parametrize("snippet", [
    f"basic_auth: {REAL_SECRET}",
    f"basic_auth: {{username: u, password: {REAL_SECRET}, password_file: /etc/hostname}}",
    f"basic_auth: {{username: u, password: [{REAL_SECRET}]}}",
    f"authorization: {{type: Basic, credentials: {REAL_SECRET}}}",
    f"authorization: {{credentials: {REAL_SECRET}, credentials_file: /etc/hostname}}",
    f"oauth2: {{client_secret: {REAL_SECRET}}}",
    f"tls_config: {{key: {REAL_SECRET}}}",
    f"bearer_token: {REAL_SECRET}\n    basic_auth: {{username: u, password: {REAL_SECRET}}}",
])
def test_secrets_stay_out_of_every_error(tmp_path: Path, snippet: str) -> None:
    p = write(tmp_path / "p.yml", "scrape_configs:\n  - job_name: a\n    " + snippet + "\n"
              "    static_configs: [{targets: ['a:1']}]\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.errors, "the snippet is invalid and must be reported"
    assert REAL_SECRET not in str(e.value)
    assert REAL_SECRET not in repr(e.value.issues)


def test_reloading_an_unchanged_file_gives_an_equal_config() -> None:
    path = EXAMPLES / "grupo-gad" / "prometheus.yml"
    old = load_config(path)
    new, err = reload(old)
    assert err is None and new == old and new is not old


def test_scrape_config_files_are_merged_with_global_defaults(tmp_path: Path) -> None:
    write(tmp_path / "jobs" / "db.yml", """\
        scrape_configs:
          - job_name: postgres
            static_configs: [{targets: ['pg:9187']}]
          - job_name: redis
            scrape_interval: 5s
            authorization: {credentials_file: ../token}
            static_configs: [{targets: ['redis:9121']}]
        """)
    write(tmp_path / "token", REAL_SECRET)
    p = write(tmp_path / "prometheus.yml", """\
        global: {scrape_interval: 20s, scrape_timeout: 15s}
        scrape_config_files: ['jobs/*.yml']
        scrape_configs:
          - job_name: app
            static_configs: [{targets: ['app:1']}]
        """)
    cfg = load_config(p)
    jobs = {j.job_name: j for j in cfg.prometheus.scrape_configs}
    assert list(jobs) == ["app", "postgres", "redis"]
    assert (jobs["postgres"].scrape_interval, jobs["postgres"].scrape_timeout) == (20_000, 15_000)
    assert (jobs["redis"].scrape_interval, jobs["redis"].scrape_timeout) == (5_000, 5_000)
    auth = jobs["redis"].authorization
    assert auth is not None and auth.credentials_file == str(tmp_path / "token")


def test_scrape_config_files_errors_point_into_those_files(tmp_path: Path) -> None:
    jobs = write(tmp_path / "jobs.yml", """\
        scrape_configs:
          - job_name: app
            static_configs: [{targets: ['app:2']}]
          - job_name: slow
            scrape_timeout: 2m
            static_configs: [{targets: ['s:1']}]
        """)
    other = write(tmp_path / "other.yml", "global: {}\nscrape_configs: []\n")
    p = write(tmp_path / "prometheus.yml", """\
        scrape_config_files: [jobs.yml, other.yml, missing.yml]
        scrape_configs:
          - job_name: app
            static_configs: [{targets: ['app:1']}]
        """)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert [str(i) for i in e.value.issues] == [
        f"{p}:1:44: scrape_config_files[2]: scrape config file '{tmp_path}/missing.yml' does not exist "
        "(paths are relative to the config file's directory)",
        f"{jobs}:5:21: scrape_configs[1].scrape_timeout: scrape timeout greater than scrape interval for "
        "scrape config with job name 'slow'",
        f"{jobs}:2:15: scrape_configs[0].job_name: found multiple scrape configs with job name 'app' "
        f"(also in {p}); job names must be unique",
        f"{other}:1:1: global: a scrape config file may only contain scrape_configs:",
    ]
