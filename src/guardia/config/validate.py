"""Turn schema validation errors into positioned ``ConfigIssue``s.

Models are declared with ``guardia.config.schema`` (unknown fields are errors, as in
Prometheus); this module is the one place that knows how the schema spells its errors and
rewrites them in the words a Prometheus user expects.
"""

from __future__ import annotations

from typing import Any, TypeVar

from guardia.config.errors import ConfigError, ConfigIssue, Path
from guardia.config.schema import Model, ValidationError
from guardia.config.yamlsource import YamlSource

M = TypeVar("M", bound=Model)


class StrictModel(Model):
    """Base for config models: immutable, unknown fields refused (both are ``Model``'s rules)."""


KEY_TAG = "[key]"
"""The schema's marker for "the error is in this mapping key, not its value"."""


def clean_loc(loc: tuple[Any, ...]) -> Path:
    """An error location as a YAML path (the ``[key]`` marker dropped)."""
    return tuple(p if isinstance(p, int) else str(p) for p in loc if p != KEY_TAG)


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


def issues_from(exc: ValidationError, src: YamlSource, base: Path = ()) -> list[ConfigIssue]:
    out = []
    seen = set()
    for err in exc.errors():
        path = (*base, *clean_loc(tuple(err["loc"])))
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
    except ValidationError as e:
        raise ConfigError(issues_from(e, src, base)) from None
