"""guardia.yml's own sections: shape checks with positions, and a plain prometheus.yml still valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from guardia.config import ConfigError
from guardia.config.kinds import Kind
from guardia.config.loader import load_config

CASES = [
    ("alertmanager: just-a-string\n",
     ["1:15 alertmanager: alertmanager must be a mapping: an inline alertmanager.yml, or "
      "{file: path/to/alertmanager.yml}"]),
    ("alertmanager: {file: am.yml, route: {receiver: x}}\n",
     ["1:37 alertmanager.route: with 'file', the alertmanager section takes no other fields; put them in "
      "the referenced file",
      "1:22 alertmanager.file: alertmanager file '{dir}/am.yml' does not exist (paths are relative to this "
      "file's directory)"]),
    ("alertmanager: {file: ''}\n",
     ["1:22 alertmanager.file: file must be the path of an alertmanager.yml"]),
    ("probes: {name: x}\n",
     ["1:9 probes: probes must be a list of mappings, each with a name"]),
    ("checks:\n  - just-a-string\n  - {query: up}\n",
     ["2:5 checks[0]: each entry of checks must be a mapping with a name",
      "3:5 checks[1]: checks[1] needs a name"]),
    ("slos:\n  - name: api\n  - name: api\n",
     ["3:11 slos[1].name: slos name 'api' is used twice (first at slos[0])"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_section_shapes(tmp_path: Path, text: str, expected: list[str]) -> None:
    p = tmp_path / "guardia.yml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    got = [f"{i.line}:{i.column} {i.path}: {i.message}" for i in e.value.issues]
    assert got == [x.replace("{dir}", str(tmp_path)) for x in expected]


def test_missing_alertmanager_file(tmp_path: Path) -> None:
    p = tmp_path / "guardia.yml"
    p.write_text("alertmanager: {file: am/alertmanager.yml}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == (f"{p}:1:22: alertmanager.file: alertmanager file "
                            f"'{tmp_path}/am/alertmanager.yml' does not exist (paths are relative to this "
                            "file's directory)")


def test_plain_prometheus_yml_is_a_guardia_yml(tmp_path: Path) -> None:
    p = tmp_path / "guardia.yml"
    p.write_text(textwrap.dedent("""\
        global: {scrape_interval: 15s}
        scrape_configs: [{job_name: a, static_configs: [{targets: ['a:1']}]}]
        """))
    cfg = load_config(p)
    assert cfg.kind is Kind.GUARDIA and cfg.alertmanager is None
    assert cfg.probes == () and cfg.checks == () and cfg.slos == () and dict(cfg.web) == {}
