"""alertmanager.yml validation: data-driven valid/invalid files, and amtool as the referee.

Invalid files start with ``# expect: LINE: text``; guardia must reject them with that line
and text.  Every file amtool rejects, guardia must reject too (placeholders are rejected by
guardia only: amtool cannot know that ``YOUR/WEBHOOK/URL`` will never deliver).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from guardia.config import ConfigError, parse_yaml
from guardia.config.alertmanager import load_alertmanager_config, parse_alertmanager_config
from guardia.config.receivers.email import EmailConfig
from guardia.config.secrets import Secret
from guardia.model import MatcherError, MatchType
from guardia.model.am_matchers import parse_am_matchers

DATA = Path(__file__).parent.parent / "alerting" / "data" / "configs"
VALID = sorted((DATA / "valid").glob("*.yml"))
INVALID = sorted((DATA / "invalid").glob("*.yml"))


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path} lacks an '# expect: LINE: text' header"
    line, text = first[len("# expect: "):].split(": ", 1)
    return int(line), text


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_files_load(path: Path) -> None:
    cfg = load_alertmanager_config(path)
    assert cfg.route is not None and cfg.route.receiver


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_files_are_rejected_with_position(path: Path) -> None:
    line, text = _expectation(path)
    with pytest.raises(ConfigError) as e:
        load_alertmanager_config(path)
    hits = [i for i in e.value.issues if text in f"{i.path}: {i.message}" or text in i.message]
    assert hits, f"no issue containing {text!r} in:\n{e.value}"
    assert hits[0].line == line, str(hits[0])
    assert hits[0].file == str(path)


def _amtool_accepts(path: Path) -> bool:
    proc = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is installed in CI")
@pytest.mark.parametrize("path", VALID + INVALID, ids=[p.name for p in VALID + INVALID])
def test_what_amtool_rejects_guardia_rejects(path: Path) -> None:
    text = path.read_text()
    newer = "# alertmanager: >=0.26" in text  # fields amtool 0.25 (Debian) does not know yet
    amtool_ok = _amtool_accepts(path)
    try:
        load_alertmanager_config(path)
        guardia_ok = True
    except ConfigError:
        guardia_ok = False
    if not amtool_ok and not newer:
        assert not guardia_ok, f"amtool rejects {path.name} but guardia accepts it"
    if path.parent.name == "valid" and not newer:
        assert amtool_ok, f"{path.name} is meant to be valid for Alertmanager too"


def test_inheritance_of_globals_and_send_resolved_defaults() -> None:
    cfg = load_alertmanager_config(DATA / "valid" / "grupo_gad.yml")
    crit = cfg.receiver("critical-alerts")
    assert crit is not None
    email = crit.email_configs[0]
    assert isinstance(email, EmailConfig)
    assert email.smarthost == "smtp.grupogad.gob.ec:587"
    assert email.from_ == "alertas@grupogad.gob.ec"
    assert email.require_tls is True and email.hello == "localhost"
    assert isinstance(email.auth_password, Secret)
    assert email.auth_password.reveal() == "Zq8-real-looking-Secret"
    assert "Zq8" not in repr(cfg)
    assert email.resolved is False  # email default send_resolved
    assert crit.slack_configs[0].resolved is True  # explicitly set
    assert crit.slack_configs[0].api_url is not None
    wh = cfg.receiver("default-receiver")
    assert wh is not None and wh.webhook_configs[0].resolved is True
    assert cfg.global_.resolve_timeout == 300_000


def test_secret_files_resolve_relative_to_config(tmp_path: Path) -> None:
    cfg = load_alertmanager_config(DATA / "valid" / "time_intervals.yml")
    office = cfg.receiver("office")
    assert office is not None
    url = office.webhook_configs[0].url
    assert url is not None and url.reveal() == "http://127.0.0.1:5003/office"


def test_missing_secret_file_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "am.yml"
    p.write_text("route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n"
                 "      - url_file: nope.txt\n")
    with pytest.raises(ConfigError) as e:
        load_alertmanager_config(p)
    assert "cannot read secret file" in str(e.value) and ":6:" in str(e.value)


def test_env_expansion_in_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIA_TEST_HOOK", "https://hooks.slack.com/services/T1/B2/realtoken123")
    src = parse_yaml("route: {receiver: s}\nreceivers:\n  - name: s\n    slack_configs:\n"
                     "      - api_url: '${GUARDIA_TEST_HOOK}'\n", "am.yml")
    cfg = parse_alertmanager_config(src)
    r = cfg.receiver("s")
    assert r is not None and r.slack_configs[0].api_url is not None
    assert r.slack_configs[0].api_url.reveal().endswith("realtoken123")
    monkeypatch.delenv("GUARDIA_TEST_HOOK")
    with pytest.raises(ConfigError) as e:
        parse_alertmanager_config(src)
    assert "GUARDIA_TEST_HOOK is not set" in str(e.value)


def test_env_default_in_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """``${VAR:-default}``: the runnable examples work as shipped and take real secrets from
    the environment once set."""
    src = parse_yaml("route: {receiver: s}\nreceivers:\n  - name: s\n    slack_configs:\n"
                     "      - api_url: '${GUARDIA_TEST_HOOK2:-http://127.0.0.1:9095/slack}'\n", "am.yml")
    monkeypatch.delenv("GUARDIA_TEST_HOOK2", raising=False)
    r = parse_alertmanager_config(src).receiver("s")
    assert r is not None and r.slack_configs[0].api_url is not None
    assert r.slack_configs[0].api_url.reveal() == "http://127.0.0.1:9095/slack"
    monkeypatch.setenv("GUARDIA_TEST_HOOK2", "https://hooks.slack.com/services/T1/B2/realtoken123")
    r = parse_alertmanager_config(src).receiver("s")
    assert r is not None and r.slack_configs[0].api_url is not None
    assert r.slack_configs[0].api_url.reveal().endswith("realtoken123")


def test_opsgenie_without_a_key_is_refused() -> None:
    src = parse_yaml("route: {receiver: o}\nreceivers:\n  - name: o\n    opsgenie_configs:\n"
                     "      - message: hi\n", "am.yml")
    with pytest.raises(ConfigError) as e:
        parse_alertmanager_config(src)
    assert "one of api_key or api_key_file must be configured" in str(e.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', [("severity", MatchType.EQUAL, "critical")]),
        ("severity=critical", [("severity", MatchType.EQUAL, "critical")]),
        ('{a=~"x|y", b!=""}', [("a", MatchType.REGEX, "x|y"), ("b", MatchType.NOT_EQUAL, "")]),
        ('msg="a, b"', [("msg", MatchType.EQUAL, "a, b")]),
        (r'q="say \"hi\""', [("q", MatchType.EQUAL, 'say "hi"')]),
        ("foo !~ bar.*", [("foo", MatchType.NOT_REGEX, "bar.*")]),
    ],
)
def test_matcher_syntax(text: str, expected: list[tuple[str, MatchType, str]]) -> None:
    assert [(m.name, m.type, m.value) for m in parse_am_matchers(text)] == expected


@pytest.mark.parametrize("text", ['a="b', 'a=b"c', "=b", "a", 'a=~"("'])
def test_bad_matchers(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_am_matchers(text)
