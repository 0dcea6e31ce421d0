"""Exposition parser, table-driven (data/parse_cases.yml; examples from the format docs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardia.model.textparse import ParseError, parse

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "data" / "parse_cases.yml").read_text())


def _same(got: float, want: Any) -> bool:
    w = float(want)
    return (math.isnan(got) and math.isnan(w)) or got == w


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    om = case["format"] == "openmetrics"
    if "error" in case:
        line, reason = case["error"]
        with pytest.raises(ParseError) as e:
            parse(case["input"], openmetrics=om)
        assert e.value.line == line, str(e.value)
        assert reason in e.value.reason, e.value.reason
        return
    exp = parse(case["input"], openmetrics=om)
    assert len(exp.samples) == len(case["samples"])
    for s, (name, labels, value, ts) in zip(exp.samples, case["samples"], strict=True):
        assert s.name == name
        assert dict(s.labels) == {k: str(v) for k, v in labels.items()}
        assert _same(s.value, value), (s.value, value)
        assert s.timestamp_ms == ts
    for fam, (typ, hlp, unit) in case.get("metadata", {}).items():
        md = exp.metadata[fam]
        assert (md.type, md.help, md.unit) == (typ, hlp, unit)


def test_ten_thousand_labels_parse() -> None:
    line = "wide{" + ",".join(f'l{i}="v{i}"' for i in range(10_000)) + "} 1\n"
    (s,) = parse(line).samples
    assert len(s.labels) == 10_000
