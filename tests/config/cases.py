"""The table-driven runner shared by the prometheus.yml and rule-file case files.

Each case in ``data/<name>.yml`` holds a document and the issues it must produce, each
written as ``line:column severity path: message`` (a prefix of the full message).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from guardia.config import ConfigError, ConfigIssue, YamlSource, parse_yaml

DATA = Path(__file__).parent / "data"


def load_cases(file_name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load((DATA / file_name).read_text())
    return cases


def issue_lines(text: str, file_name: str,
                parse: Callable[[YamlSource], tuple[Any, list[ConfigIssue]]]) -> list[str]:
    """Every issue of ``text`` in position order, as one line each."""
    try:
        src = parse_yaml(text, file_name)
    except ConfigError as e:
        issues = e.issues
    else:
        _, issues = parse(src)
    issues = sorted(issues, key=lambda i: (i.line or 0, i.column or 0))
    return [f"{i.line}:{i.column} {i.severity} {i.path}: {i.message}" for i in issues]

