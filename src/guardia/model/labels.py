"""Label sets: the identity of a series.

A label set is compared, hashed and looked up on every append and every query, so it is a
plain tuple of ``(name, value)`` pairs sorted by name: equality and hashing are C-speed and
two equal sets built in different orders are the same key.  The fingerprint is a stable
64-bit hash (unlike ``hash()``, which is salted per process) for things that persist or
cross processes: notification logs, alert group keys, sharding.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping

METRIC_NAME = "__name__"

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SEP = b"\xff"
_new_tuple = tuple.__new__


def is_valid_label_name(name: str) -> bool:
    """Legacy (pre-UTF-8) label name rule, the one exporters and rule files use."""
    return bool(_LABEL_NAME_RE.match(name))


def is_valid_metric_name(name: str) -> bool:
    return bool(_METRIC_NAME_RE.match(name))


class Labels(tuple[tuple[str, str], ...]):
    """An immutable, name-sorted set of labels.  Empty values are dropped, as in Prometheus."""

    __slots__ = ()

    def __new__(cls, pairs: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> Labels:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        return super().__new__(cls, sorted((k, v) for k, v in items if v != ""))

    @classmethod
    def from_sorted(cls, pairs: Iterable[tuple[str, str]]) -> Labels:
        """Build without sorting or filtering: for callers that already hold sorted pairs."""
        return _new_tuple(cls, pairs)  # tuple.__new__ bound once: no super() look-up per set

    @classmethod
    def of(cls, **kwargs: str) -> Labels:
        return cls(kwargs)

    def get(self, name: str, default: str = "") -> str:
        for k, v in self:
            if k == name:
                return v
        return default

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self)

    @property
    def name(self) -> str:
        """The metric name (``__name__``), or "" when there is none."""
        return self.get(METRIC_NAME)

    def names(self) -> list[str]:
        return [k for k, _ in self]

    def as_dict(self) -> dict[str, str]:
        return dict(self)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self)

    def with_labels(self, **updates: str) -> Labels:
        """A copy with labels set (an empty value removes the label)."""
        d = dict(self)
        d.update(updates)
        return Labels(d)

    def set(self, name: str, value: str) -> Labels:
        d = dict(self)
        d[name] = value
        return Labels(d)

    def without(self, *names: str) -> Labels:
        drop = set(names)
        return Labels.from_sorted(p for p in self if p[0] not in drop)

    def only(self, *names: str) -> Labels:
        keep = set(names)
        return Labels.from_sorted(p for p in self if p[0] in keep)

    def without_name(self) -> Labels:
        return self.without(METRIC_NAME)

    def fingerprint(self) -> int:
        """Stable 64-bit hash of the label set, the same in every process and version."""
        h = hashlib.blake2b(digest_size=8)
        for k, v in self:
            h.update(k.encode())
            h.update(_SEP)
            h.update(v.encode())
            h.update(_SEP)
        return int.from_bytes(h.digest(), "big")

    def __str__(self) -> str:
        name = self.name
        inner = ", ".join(f'{k}="{escape_label_value(v)}"' for k, v in self if k != METRIC_NAME)
        if name and not inner:
            return name
        return f"{name}{{{inner}}}"

    def __repr__(self) -> str:
        return f"Labels({dict(self)!r})"


def escape_label_value(value: str) -> str:
    """A label value inside double quotes as PromQL and the text exposition format write it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
