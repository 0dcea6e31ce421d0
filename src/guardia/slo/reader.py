"""Reading SLO documents field by field, collecting every problem with its file and line.

The three formats differ in names (``error_query`` vs ``errorQuery`` vs ``errors.metric``)
but not in the kind of mistakes people make, so one reader checks types and ranges and
pins each complaint to the line it is about.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from guardia.config.errors import ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.yamlsource import YamlSource
from guardia.model.labels import is_valid_label_name


class Reader:
    def __init__(self, src: YamlSource, issues: list[ConfigIssue] | None = None) -> None:
        self.src = src
        self.issues: list[ConfigIssue] = issues if issues is not None else []

    def err(self, path: FieldPath, msg: str, *, severity: str = "error") -> None:
        self.issues.append(self.src.issue(path, msg, severity=severity))

    @property
    def failed(self) -> bool:
        return any(i.severity == "error" for i in self.issues)

    @contextmanager
    def catching(self, path: FieldPath, *errors: type[Exception]) -> Iterator[None]:
        """Turn a builder's ValueError into an issue at ``path``."""
        try:
            yield
        except errors as e:
            sub = getattr(e, "field", "")
            self.err((*path, sub) if sub else path, str(e))

    def mapping(self, value: Any, path: FieldPath, what: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.err(path, f"{what} must be a mapping")
            return None
        return value

    def known(self, d: dict[str, Any], path: FieldPath, allowed: set[str], what: str,
              severity: str = "error") -> None:
        """Unknown fields are errors in guardia's form, warnings in other tools' files (a
        newer sloth or pyrra may add fields guardia can ignore)."""
        for k in d:
            if k not in allowed:
                self.err((*path, k), f"unknown field {k!r} in {what} (known: "
                         f"{', '.join(sorted(allowed))})", severity=severity)

    def text(self, d: dict[str, Any], key: str, path: FieldPath, *, required: bool = False,
             default: str = "") -> str:
        v = d.get(key)
        if v is None:
            if required:
                self.err(path, f"{key} is required")
            return default
        if isinstance(v, dict | list):
            self.err((*path, key), f"{key} must be text")
            return default
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def flag(self, d: dict[str, Any], key: str, path: FieldPath, default: bool = False) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            self.err((*path, key), f"{key} must be true or false")
            return default
        return v

    def number(self, d: dict[str, Any], key: str, path: FieldPath) -> float | None:
        v = d.get(key)
        if isinstance(v, str):
            s = v.strip().rstrip("%").strip()
            try:
                v = float(s)
            except ValueError:
                self.err((*path, key), f"{key} must be a number, got {v!r}")
                return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.err((*path, key), f"{key} must be a number" + ("" if v is None else f", got {v!r}"))
            return None
        return float(v)

    def objective_percent(self, d: dict[str, Any], key: str, path: FieldPath,
                          allow_ratio: bool = False) -> float | None:
        """A percent (99.9) as a ratio (0.999); ``allow_ratio`` also takes 0.999 as written."""
        v = self.number(d, key, path)
        if v is None:
            return None
        if allow_ratio and 0 < v < 1:
            return v
        if not 0 < v < 100:
            self.err((*path, key), f"{key} must be a percentage between 0 and 100 (exclusive), "
                     f"e.g. 99.9; got {v:g}")
            return None
        return round(v / 100, 12)

    def labels(self, d: dict[str, Any], key: str, path: FieldPath) -> dict[str, str]:
        v = d.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.err((*path, key), f"{key} must be a mapping of label names to values")
            return {}
        out = {}
        for k, val in v.items():
            if not is_valid_label_name(str(k)):
                self.err((*path, key, k), f"invalid label name {k!r}")
                continue
            if isinstance(val, dict | list) or val is None:
                self.err((*path, key, k), f"label {k} must have a text value")
                continue
            out[str(k)] = ("true" if val else "false") if isinstance(val, bool) else str(val)
        return out

    def names(self, d: dict[str, Any], key: str, path: FieldPath) -> tuple[str, ...]:
        v = d.get(key)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.err((*path, key), f"{key} must be a list of label names")
            return ()
        for x in v:
            if not is_valid_label_name(x):
                self.err((*path, key), f"invalid label name {x!r}")
        return tuple(v)
