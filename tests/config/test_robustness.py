"""Whatever YAML a user feeds `guardia check config`, it answers with issues, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardia.config.loader import check_file

KEYS = [
    "global", "scrape_configs", "rule_files", "alerting", "alertmanagers", "remote_write", "storage",
    "job_name", "static_configs", "targets", "labels", "scrape_interval", "scrape_timeout", "basic_auth",
    "password", "authorization", "credentials", "tls_config", "relabel_configs", "action", "regex",
    "groups", "rules", "alert", "record", "expr", "for", "annotations", "name", "route", "receivers",
    "receiver", "routes", "matchers", "inhibit_rules", "equal", "probes", "web", "alertmanager", "file",
    "file_sd_configs", "files", "url", "headers", "params", "body_size_limit", "tsdb",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["15s", "1m", "10MB", "api:8000", "up == 0", "rate(x[5m]", "{{ $value", "changeme",
                     "", "http://x", "drop", "(.*", "[a", "${X}"]),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=25,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_check_file_never_raises(tmp_path: Path, doc: Any) -> None:
    p = tmp_path / "any.yml"
    p.write_text(yaml.safe_dump(doc))
    result = check_file(p)
    for issue in result.issues:
        assert issue.file and isinstance(issue.message, str) and issue.message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_raises(tmp_path: Path, text: str) -> None:
    p = tmp_path / "any.yml"
    p.write_text(text, encoding="utf-8")
    check_file(p)
