"""YAML scalars read as text the way Go's YAML decoders read them.

Prometheus and Alertmanager decode a scalar into a string field by keeping it exactly as
written: ``labels: {critical: true, version: 1.50, code: 0x1F}`` gives "true", "1.50" and
"0x1F" (promtool 2.42 and amtool 0.25 show these), and ``start_time: 10:30`` stays "10:30".
PyYAML resolves the same scalars to ``True``, ``1.5``, ``31`` and (YAML 1.1 base 60) ``630``,
so ``str()`` on them gave other label values than Prometheus, and routes that never matched.

The YAML builder (``yamlsource``) therefore keeps the source spelling of every non-string
scalar inside a mapping or list, in ``TextMap.texts`` / ``TextList.texts``; the data itself
is unchanged, so numeric and boolean fields still get numbers and booleans.  Every place in
the config package that needs a scalar as text goes through ``item_text`` (or
``scalar_text`` when there is no container), so the rule is the same everywhere.
"""

from __future__ import annotations

import datetime
from typing import Any


class TextMap(dict[Any, Any]):
    """A YAML mapping that remembers how its non-string scalar values were spelled."""

    __slots__ = ("texts",)

    def __init__(self, items: dict[Any, Any], texts: dict[Any, str]) -> None:
        super().__init__(items)
        self.texts = texts


class TextList(list[Any]):
    """A YAML sequence that remembers how its non-string scalar items were spelled."""

    __slots__ = ("texts",)

    def __init__(self, items: list[Any], texts: dict[int, str]) -> None:
        super().__init__(items)
        self.texts = texts


def scalar_text(value: Any) -> str | None:
    """Go's text for a scalar whose source spelling is unknown; None for a mapping or list.

    Used for values that did not come from a YAML file (defaults, data built in code) and
    for scalars outside any container.  ``null`` is the empty string, as Go decodes it.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


def item_text(container: Any, key: Any) -> str | None:
    """``container[key]`` as the text Go would decode it to; None if it is a mapping or list."""
    value = container[key]
    if isinstance(value, str):
        return value
    if isinstance(container, TextMap | TextList):
        text = container.texts.get(key)
        if text is not None:
            return text
    return scalar_text(value)


def describe(value: Any) -> str:
    """What a non-scalar YAML value is, for error messages."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"
