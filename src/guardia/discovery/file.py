"""file_sd_configs: target groups read from JSON or YAML files, re-read when they change.

Files are found by glob and checked for changes by modification time and size on a short
poll (and re-read fully every ``refresh_interval``).  A file that fails to parse keeps its
last good groups, and the reason (file, line when known, what is wrong) is kept in
``errors`` for the targets page and counted in ``prometheus_sd_file_read_errors_total``.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from guardia.config.prometheus import FileSDConfig
from guardia.config.yamlsource import yaml_error_position
from guardia.discovery.targetgroup import TargetGroup
from guardia.model.labels import is_valid_label_name


class FileSDError(ValueError):
    """A file_sd file that cannot be used; the message names the file and the problem."""


def _stat_key(path: str) -> tuple[float, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime, st.st_size)


def parse_file(path: str, text: str) -> list[TargetGroup]:
    """Parse one file_sd file's content; raise ``FileSDError`` saying what is wrong and where."""
    ext = Path(path).suffix.lower()
    try:
        if ext == ".json":
            data: Any = json.loads(text)
        elif ext in (".yml", ".yaml"):
            data = yaml.safe_load(text)
        else:
            raise FileSDError(f"{path}: unsupported file extension {ext!r}; use .json, .yml or .yaml")
    except json.JSONDecodeError as e:
        raise FileSDError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    except yaml.MarkedYAMLError as e:
        line, col, msg = yaml_error_position(e)
        where = f":{line}:{col}" if line is not None else ""
        raise FileSDError(f"{path}{where}: {msg}") from None
    except yaml.YAMLError as e:
        raise FileSDError(f"{path}: invalid YAML: {e}") from None
    if data is None:
        data = []
    if not isinstance(data, list):
        raise FileSDError(f"{path}: expected a list of target groups ([{{targets: [...], labels: {{...}}}}])")
    groups = []
    for i, g in enumerate(data):
        if not isinstance(g, dict):
            raise FileSDError(f"{path}: group {i}: expected a mapping with 'targets' and 'labels'")
        unknown = set(g) - {"targets", "labels"}
        if unknown:
            raise FileSDError(f"{path}: group {i}: unknown field(s) {', '.join(sorted(unknown))}")
        targets = g.get("targets") or []
        labels = g.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
            raise FileSDError(f"{path}: group {i}: 'targets' must be a list of host:port strings")
        if not isinstance(labels, dict):
            raise FileSDError(f"{path}: group {i}: 'labels' must be a mapping of label name to value")
        for k, v in labels.items():
            if not isinstance(k, str) or not is_valid_label_name(k):
                raise FileSDError(f"{path}: group {i}: {k!r} is not a valid label name")
            if not isinstance(v, str):
                raise FileSDError(f"{path}: group {i}: label {k!r} must be a string, got {v!r}")
        lb = dict(labels)
        lb["__meta_filepath"] = path
        groups.append(
            TargetGroup(source=f"{path}:{i}", targets=tuple({"__address__": t} for t in targets), labels=lb)
        )
    return groups


@dataclass(slots=True)
class _FileState:
    stat: tuple[float, int] | None
    groups: list[TargetGroup]
    error: str | None = None


class FileDiscovery:
    """Watches the files of one file_sd_config; ``refresh()`` says whether groups changed."""

    def __init__(self, config: FileSDConfig, base_dir: str | Path | None = None) -> None:
        self.config = config
        self.base_dir = Path(base_dir) if base_dir else None
        self._files: dict[str, _FileState] = {}
        self._last_full = 0.0
        self.read_errors = 0

    def _paths(self) -> list[str]:
        out: list[str] = []
        for pattern in self.config.files:
            p = pattern
            if self.base_dir is not None and not os.path.isabs(p):
                p = str(self.base_dir / p)
            out.extend(sorted(glob.glob(p)))
        return out

    @property
    def errors(self) -> dict[str, str]:
        return {p: s.error for p, s in self._files.items() if s.error}

    def refresh(self, now: float | None = None) -> bool:
        """Re-read new or changed files (all of them every refresh_interval); True on change."""
        now = time.monotonic() if now is None else now
        full = now - self._last_full >= self.config.refresh_interval / 1000.0
        if full:
            self._last_full = now
        changed = False
        paths = self._paths()
        for gone in set(self._files) - set(paths):
            del self._files[gone]
            changed = True
        for p in paths:
            st = _stat_key(p)
            old = self._files.get(p)
            if old is not None and old.stat == st and not full:
                continue
            try:
                with open(p, encoding="utf-8") as f:
                    groups = parse_file(p, f.read())
            except (OSError, UnicodeDecodeError, FileSDError) as e:
                self.read_errors += 1
                msg = str(e) if isinstance(e, FileSDError) else f"{p}: {e}"
                if old is None:
                    self._files[p] = _FileState(st, [], msg)
                else:
                    old.stat, old.error = st, msg  # keep the last good groups
                continue
            if old is None or old.groups != groups:
                changed = True
            self._files[p] = _FileState(st, groups)
        return changed

    def groups(self) -> list[TargetGroup]:
        return [g for s in self._files.values() for g in s.groups]
