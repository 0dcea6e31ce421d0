"""File kind detection for `guardia check config`."""

from __future__ import annotations

from typing import Any

import pytest

from guardia.config.kinds import Kind, detect_kind

CASES: list[tuple[Any, str, Kind]] = [
    ({"scrape_configs": []}, "config.yml", Kind.PROMETHEUS),
    ({"global": {"scrape_interval": "15s"}}, "x.yml", Kind.PROMETHEUS),
    ({"global": {"resolve_timeout": "5m"}}, "x.yml", Kind.ALERTMANAGER),
    ({"route": {"receiver": "a"}, "receivers": []}, "config.yml", Kind.ALERTMANAGER),
    ({"groups": []}, "anything.yml", Kind.RULES),
    ({"rule_files": ["a.yml"], "tests": []}, "t.yml", Kind.RULE_TESTS),
    ({"scrape_configs": [], "probes": []}, "x.yml", Kind.GUARDIA),
    ({"scrape_configs": []}, "guardia.yml", Kind.GUARDIA),
    (None, "alertmanager.yml", Kind.ALERTMANAGER),
    (None, "alerts.yml", Kind.RULES),
    (None, "prometheus.yml", Kind.PROMETHEUS),
    ({"hello": 1}, "x.yml", Kind.UNKNOWN),
    ([1, 2], "x.yml", Kind.UNKNOWN),
]


@pytest.mark.parametrize(("data", "name", "kind"), CASES)
def test_detect_kind(data: Any, name: str, kind: Kind) -> None:
    assert detect_kind(data, name) is kind
