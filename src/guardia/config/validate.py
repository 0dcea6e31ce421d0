"""Turn pydantic validation errors into positioned ``ConfigIssue``s.

Models are declared with pydantic (``extra="forbid"`` so unknown fields are errors, as in
Prometheus); this module is the one place that knows how pydantic spells its errors and
rewrites them in the words a Prometheus user expects.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from guardia.config.errors import ConfigError, ConfigIssue, Path
from guardia.config.yamlsource import YamlSource

M = TypeVar("M", bound=pydantic.BaseModel)


class StrictModel(pydantic.BaseModel):
    """Base for config models: immutable, unknown fields refused."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _clean_loc(loc: tuple[Any, ...]) -> Path:
    """Drop pydantic's union/validator tags (``function-after[...]``, model names) from a loc."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            out.append(part)
        elif "[" in str(part) or str(part)[:1].isupper():
            continue
        else:
            out.append(str(part))
    return tuple(out)


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "field is not allowed here (unknown field; check spelling and indentation)"
    if kind == "missing":
        return "field is required"
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def issues_from(exc: pydantic.ValidationError, src: YamlSource, base: Path = ()) -> list[ConfigIssue]:
    out = []
    seen = set()
    for err in exc.errors():
        path = (*base, *_clean_loc(tuple(err["loc"])))
        msg = _message(err)
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        out.append(src.issue(path, msg, at_key=err.get("type") == "extra_forbidden"))
    return out


def validate(model: type[M], src: YamlSource, data: Any = None, base: Path = ()) -> M:
    """Validate ``data`` (default: the whole document) as ``model``; positioned errors on failure."""
    payload = src.data if data is None else data
    if payload is None:
        payload = {}
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as e:
        raise ConfigError(issues_from(e, src, base)) from None
