"""file_sd_configs: JSON and YAML files, changes picked up, broken files keep old targets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from guardia.config.prometheus import FileSDConfig, StaticConfig
from guardia.discovery import FileDiscovery, FileSDError, parse_file, static_groups


def _addresses(fd: FileDiscovery) -> list[str]:
    return sorted(t["__address__"] for g in fd.groups() for t in g.target_label_sets())


def _touch_later(p: Path) -> None:
    st = p.stat()
    os.utime(p, (st.st_atime + 10, st.st_mtime + 10))


def test_json_and_yaml_files_by_glob(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}]))
    (tmp_path / "b.yml").write_text("- targets: ['c:3']\n")
    fd = FileDiscovery(FileSDConfig(files=(str(tmp_path / "*.json"), str(tmp_path / "*.yml"))))
    assert fd.refresh(now=0)
    assert _addresses(fd) == ["a:1", "b:2", "c:3"]
    first = fd.groups()[0].target_label_sets()[0]
    assert first["env"] == "prod"
    assert first["__meta_filepath"] == str(tmp_path / "a.json")


def test_changes_are_picked_up_and_removed_files_drop_targets(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("- targets: ['a:1']\n")
    fd = FileDiscovery(FileSDConfig(files=(str(tmp_path / "*.yaml"),), refresh_interval="1h"))  # type: ignore[arg-type]
    fd.refresh(now=0)
    f.write_text("- targets: ['a:1', 'b:2']\n")
    _touch_later(f)
    assert fd.refresh(now=1)
    assert _addresses(fd) == ["a:1", "b:2"]
    assert not fd.refresh(now=2)
    f.unlink()
    assert fd.refresh(now=3)
    assert _addresses(fd) == []


def test_broken_file_keeps_last_good_targets_and_says_why(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"targets": ["a:1"]}]))
    fd = FileDiscovery(FileSDConfig(files=(str(f),)))
    fd.refresh(now=0)
    f.write_text('[{"targets": ["a:1"],}]')
    _touch_later(f)
    fd.refresh(now=1)
    assert _addresses(fd) == ["a:1"]
    (err,) = fd.errors.values()
    assert err.startswith(f"{f}:1:") and "invalid JSON" in err
    assert fd.read_errors == 1
    f.write_text(json.dumps([{"targets": ["b:2"]}]))
    st = f.stat()
    os.utime(f, (st.st_atime + 20, st.st_mtime + 20))
    fd.refresh(now=2)
    assert _addresses(fd) == ["b:2"] and fd.errors == {}


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("x.yml", "targets: [a]", "expected a list of target groups"),
        ("x.yml", "- targets: a:1", "'targets' must be a list"),
        ("x.yml", "- targets: ['a:1']\n  labels: {1bad: x}", "not a valid label name"),
        ("x.yml", "- targets: ['a:1']\n  labels: {env: 1}", "must be a string"),
        ("x.yml", "- targets: ['a:1']\n  lables: {}", "unknown field(s) lables"),
        ("x.yml", "- targets: [a:1\n", "invalid YAML"),
        ("x.txt", "[]", "unsupported file extension"),
    ],
)
def test_bad_files_are_refused_with_a_reason(name: str, text: str, reason: str) -> None:
    with pytest.raises(FileSDError) as e:
        parse_file(name, text)
    assert reason in str(e.value) and str(e.value).startswith(name)


def test_static_groups_carry_labels() -> None:
    (g,) = static_groups("j", [StaticConfig(targets=("a:1",), labels={"env": "x"})])
    assert g.target_label_sets() == [{"__address__": "a:1", "env": "x"}]
