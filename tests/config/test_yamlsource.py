import shutil
import subprocess
from pathlib import Path

import pytest

from guardia.config import ConfigError, parse_yaml
from guardia.config.validate import StrictModel, validate


def test_marks_point_at_values() -> None:
    src = parse_yaml("route:\n  routes:\n    - receiver: a\n    - receiver: b\n", "am.yml")
    assert src.mark(("route", "routes", 1, "receiver")) == (4, 17)
    issue = src.issue(("route", "routes", 1, "receiver"), 'receiver "b" is not defined')
    assert str(issue) == 'am.yml:4:17: route.routes[1].receiver: receiver "b" is not defined'


def test_duplicate_keys_are_errors() -> None:
    with pytest.raises(ConfigError) as e:
        parse_yaml("a: 1\nb: 2\na: 3\n", "x.yml")
    assert "x.yml:3:1" in str(e.value) and "twice" in str(e.value)


def test_syntax_error_has_position() -> None:
    with pytest.raises(ConfigError) as e:
        parse_yaml("a: [1, 2\nb: 3\n", "x.yml")
    assert e.value.issues[0].line is not None
    assert "invalid YAML" in str(e.value)


class Inner(StrictModel):
    name: str


class Outer(StrictModel):
    items: list[Inner]


def test_unknown_field_is_reported_at_its_key() -> None:
    src = parse_yaml("items:\n  - name: a\n  - name: b\n    nmae: c\n", "f.yml")
    with pytest.raises(ConfigError) as e:
        validate(Outer, src)
    (issue,) = e.value.issues
    assert (issue.line, issue.path) == (4, "items[1].nmae")
    assert "unknown field" in issue.message


def test_mapping_used_as_key_is_refused_like_go_yaml() -> None:
    # `[{{targets: [...]}}]` is a flow mapping whose key is a mapping; Go's yaml refuses it
    # ("cannot unmarshal !!map into string") and so must we, not load a job with no targets.
    with pytest.raises(ConfigError) as e:
        parse_yaml('scrape_configs:\n  - job_name: x\n    static_configs: [{{targets: ["a:1"]}}]\n', "p.yml")
    (issue,) = e.value.issues
    assert (issue.line, issue.path) == (3, "scrape_configs[0].static_configs[0]")
    assert "used as a field name" in issue.message


def test_a_recursive_alias_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConfigError) as e:
        parse_yaml("scrape_configs: &jobs\n  - job_name: a\n    static_configs: *jobs\n", "p.yml")
    [issue] = e.value.issues
    assert (issue.line, issue.column, issue.path) == (3, 5, "scrape_configs[0].static_configs")
    assert "refers to a mapping or list that contains it" in issue.message
    # An alias to a sibling (not an ancestor) is fine, as in Prometheus configs that share labels.
    src = parse_yaml("a: &l {x: 1}\nb: *l\nc: [*l, *l]\n", "p.yml")
    assert src.data == {"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 1}]}


UNCLOSED = {
    "bracket": ("global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: api\n    static_configs:\n"
                "      - targets: [api:8000, api2:8000\n  - job_name: db\n", 6, "'['"),
    "brace": ("scrape_configs:\n  - job_name: api\n    static_configs:\n      - labels: {env: prod\n"
              "        targets: [a:1]\n  - job_name: db\n", 4, "'{'"),
    "quote": ('groups:\n  - name: "abc\n    rules: []\n', 2, "quote"),
}


@pytest.mark.parametrize("case", UNCLOSED, ids=list(UNCLOSED))
def test_an_unclosed_bracket_or_quote_is_reported_where_it_opens(case: str) -> None:
    text, line, what = UNCLOSED[case]
    with pytest.raises(ConfigError) as e:
        parse_yaml(text, "x.yml")
    (issue,) = e.value.issues
    assert issue.line == line, str(issue)
    assert f"the {what} opened here is never closed" in issue.message


@pytest.mark.parametrize("case", UNCLOSED, ids=list(UNCLOSED))
def test_the_line_is_the_one_promtool_names(case: str, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    text, line, _ = UNCLOSED[case]
    f = tmp_path / "x.yml"
    f.write_text(text)
    out = subprocess.run([promtool, "check", "config" if "scrape" in text else "rules", str(f)],
                         capture_output=True, text=True)
    assert f"yaml: line {line}:" in out.stdout + out.stderr
