"""Relabel engine behaviour, from the documented semantics (data/relabel_cases.yml)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardia.config.relabel import RelabelConfig
from guardia.model.relabel import hashmod, process

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "relabel_cases.yml").read_text()
)


def _want(out: dict[str, str] | None) -> dict[str, str] | None:
    if out is None:
        return None
    res = {}
    for k, v in out.items():
        if v.startswith("HASHMOD("):
            value, mod = v[len("HASHMOD(") : -1].rsplit(",", 1)
            digest = hashlib.md5(value.encode()).digest()
            v = str(int.from_bytes(digest[8:], "big") % int(mod))
        res[k] = v
    return res


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    rules = [RelabelConfig.model_validate(r) for r in case["rules"]]
    got = process(dict(case["in"]), rules)
    assert got == _want(case["out"])


def test_hashmod_matches_prometheus_sharding() -> None:
    # Independently computed: md5("a") = 0cc175b9c0f1b6a8 31c399e269772661, low 8 bytes.
    assert hashmod("a", 2**64 - 1) == 0x31C399E269772661 % (2**64 - 1)
    assert 0 <= hashmod("anything", 3) < 3
