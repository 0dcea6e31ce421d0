"""Field types shared by the Prometheus-format config models.

Prometheus spells durations (``15s``), sizes (``10MB``) and label names its own way; these
annotated types parse them once at validation, so runtime code reads plain integers and
never re-parses text.  Serialising turns them back into Prometheus's spelling, which is what
``/api/v1/status/config`` shows.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from guardia.config.errors import ConfigIssue
from guardia.config.scalars import TextMap, describe, item_text
from guardia.config.schema import BeforeValidator, Model, PlainSerializer, ValidationError, model_validator
from guardia.config.validate import StrictModel, clean_loc, issues_from
from guardia.config.yamlsource import YamlSource
from guardia.model.durations import DurationError, format_duration, parse_duration
from guardia.model.labels import is_valid_label_name


class PromModel(StrictModel):
    """A StrictModel that reads an explicit YAML ``null`` as "not set", as Go's YAML decoder does.

    ``scrape_configs:`` with nothing under it is an empty list to Prometheus, not an error.
    """

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kept = {k: v for k, v in data.items() if v is not None}
            # Keep the source spellings, so string fields still read ``1.50`` as written.
            return TextMap(kept, data.texts) if isinstance(data, TextMap) else kept
        return data


def _duration(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("must be a duration such as 15s, 1m or 1h30m, not a boolean")
    if isinstance(v, int):
        if v == 0:
            return 0
        raise ValueError(f"{v} has no unit; write it as a duration such as {v}s or {v}ms")
    if not isinstance(v, str):
        raise ValueError("must be a duration such as 15s, 1m or 1h30m")
    try:
        return parse_duration(v)
    except DurationError as e:
        raise ValueError(str(e)) from None


Duration = Annotated[int, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
"""A Prometheus duration held as milliseconds."""

# Base-2 units as Prometheus's size parser reads them: KB and KiB both mean 1024 bytes.
_SIZE_UNITS = {
    "b": 1,
    "kb": 1 << 10, "kib": 1 << 10,
    "mb": 1 << 20, "mib": 1 << 20,
    "gb": 1 << 30, "gib": 1 << 30,
    "tb": 1 << 40, "tib": 1 << 40,
    "pb": 1 << 50, "pib": 1 << 50,
    "eb": 1 << 60, "eib": 1 << 60,
}
_SIZE_PART = re.compile(r"(\d+)([A-Za-z]+)")


def parse_size(text: str) -> int:
    """``10MB`` → 10485760 (sizes are base 2, as Prometheus reads ``body_size_limit``)."""
    s = text.strip()
    if s.isdigit():
        return int(s)
    pos = 0
    total = 0
    while pos < len(s):
        m = _SIZE_PART.match(s, pos)
        if not m or m.group(2).lower() not in _SIZE_UNITS:
            raise ValueError(
                f"not a valid size: {text!r} (use e.g. 512KB, 10MB, 1GB; units B KB MB GB TB)"
            )
        total += int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"not a valid size: {text!r} (use e.g. 512KB, 10MB, 1GB)")
    return total


def format_size(n: int) -> str:
    for unit, size in (("EB", 1 << 60), ("PB", 1 << 50), ("TB", 1 << 40), ("GB", 1 << 30),
                       ("MB", 1 << 20), ("KB", 1 << 10)):
        if n and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def _size(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("must be a size such as 10MB")
    if isinstance(v, int):
        if v < 0:
            raise ValueError("must not be negative")
        return v
    if not isinstance(v, str):
        raise ValueError("must be a size such as 10MB")
    return parse_size(v)


SizeBytes = Annotated[int, BeforeValidator(_size), PlainSerializer(format_size, return_type=str)]
"""A size in bytes, written ``10MB`` (base 2)."""


NAME_RULE = "letters, digits and _, not starting with a digit"


def _label_name(v: Any) -> str:
    if not isinstance(v, str) or not is_valid_label_name(v):
        raise ValueError(f"{v!r} is not a valid label name ({NAME_RULE})")
    return v


LabelName = Annotated[str, BeforeValidator(_label_name)]


def _label_set(v: Any) -> Any:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("must be a mapping of label names to values")
    out: dict[str, str] = {}
    for k, val in v.items():
        if not isinstance(k, str) or not is_valid_label_name(k):
            raise ValueError(f"{k!r} is not a valid label name ({NAME_RULE})")
        text = item_text(v, k)
        if text is None:
            raise ValueError(f"label {k!r} must have one text value, not {describe(val)}")
        out[k] = text
    return out


LabelSet = Annotated[dict[str, str], BeforeValidator(_label_set)]
"""A mapping of valid label names to string values (other scalars are read as Go reads them: as written)."""


UNKNOWN_FIELD = "field is not allowed here"


@functools.cache
def field_names(*models: type[Model]) -> frozenset[str]:
    """Every YAML field name of ``models`` and the models nested in them.

    Computed on the first misspelt field, not at import: walking every nested model compiles
    each one, and a document that validates never needs the list.
    """
    seen: set[type[Model]] = set()
    names: set[str] = set()
    todo = list(models)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for name, info in m.model_fields.items():
            names.add(info.alias or name)
            todo.extend(_nested_models(info.annotation))
    return frozenset(names)


def _nested_models(tp: Any) -> Iterable[type[Model]]:
    if isinstance(tp, type) and issubclass(tp, Model):
        yield tp
    for arg in getattr(tp, "__args__", ()) or ():
        yield from _nested_models(arg)


def did_you_mean(key: str, known: frozenset[str]) -> str:
    """`` — did you mean 'scrape_interval'?`` for a misspelt field, or an empty string."""
    import difflib  # on a misspelt field only: ~0.2 MiB in every process otherwise

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def with_suggestions(issues: list[ConfigIssue], known: frozenset[str]) -> list[ConfigIssue]:
    """Add "did you mean" to unknown-field issues (``scrape_intervall`` → ``scrape_interval``)."""
    out = []
    for i in issues:
        if i.message.startswith(UNKNOWN_FIELD):
            key = re.sub(r"\[\d+\]$", "", i.path).rsplit(".", 1)[-1]
            hint = did_you_mean(key, known)
            if hint:
                i = dataclasses.replace(i, message=i.message + hint)
        out.append(i)
    return out


# --- salvage: keep checking a document whose schema failed in places -----------------------

IndexMap = dict[tuple[str | int, ...], list[int]]


def salvage(payload: Any, exc: ValidationError) -> tuple[Any, IndexMap] | None:
    """``payload`` without the parts that failed validation, and how list indices moved.

    A failing list entry is dropped (the innermost one holding the error); a failing
    mapping value outside any list is removed so its default applies.  The rest can then be
    validated and cross-checked, so one run reports schema errors and cross-field errors
    together.  None when nothing sensible can be removed (a required top-level field).
    """
    drops: dict[tuple[str | int, ...], set[int]] = {}
    keys: set[tuple[str | int, ...]] = set()
    for err in exc.errors():
        loc = clean_loc(tuple(err["loc"]))
        ints = [i for i, p in enumerate(loc) if isinstance(p, int)]
        if ints:
            at = ints[-1]
            drops.setdefault(loc[:at], set()).add(int(loc[at]))
        elif loc and err["type"] != "missing":
            keys.add(loc)
        else:
            return None
    data = _deep_copy(payload)
    for path in keys:
        parent = _get(data, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    index_map: IndexMap = {}
    # Deepest lists first, so dropping in an outer list does not move an inner list's path.
    for path in sorted(drops, key=len, reverse=True):
        lst = _get(data, path)
        if not isinstance(lst, list):
            return None
        keep = [i for i in range(len(lst)) if i not in drops[path]]
        lst[:] = [lst[i] for i in keep]
        index_map[path] = keep
    return data, index_map


M = TypeVar("M", bound=Model)


def validate_salvaging(
    model: type[M], data: Any, src: YamlSource
) -> tuple[M | None, list[ConfigIssue], IndexMap]:
    """Validate ``data``; on schema errors, also validate what ``salvage`` leaves.

    Returns the model (None when nothing could be salvaged), the schema issues (with "did
    you mean" any field name of ``model``), and the index map to pass to ``remap_path`` for
    findings on the salvaged model.  Empty issues mean the document validated as it is.
    """
    try:
        return model.model_validate(data), [], {}
    except ValidationError as e:
        schema = with_suggestions(issues_from(e, src), field_names(model))
        salvaged = salvage(data, e)
    if salvaged is None:
        return None, schema, {}
    try:
        return model.model_validate(salvaged[0]), schema, salvaged[1]
    except ValidationError:
        return None, schema, {}


def remap_path(path: tuple[str | int, ...], index_map: IndexMap) -> tuple[str | int, ...]:
    """Translate a path in the salvaged document back to the original document."""
    out = list(path)
    for i, part in enumerate(out):
        if isinstance(part, int):
            keep = index_map.get(tuple(out[:i]))
            if keep is not None and part < len(keep):
                out[i] = keep[part]
    return tuple(out)


def _get(data: Any, path: tuple[str | int, ...]) -> Any:
    for p in path:
        if isinstance(data, dict):
            if p not in data:
                return None
            data = data[p]
        elif isinstance(data, list) and isinstance(p, int) and p < len(data):
            data = data[p]
        else:
            return None
    return data


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
