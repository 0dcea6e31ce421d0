"""What a check returns, and how any accepted return value becomes rows of labelled values.

A check function may return a number, a mapping from label sets (tuples of ``(name, value)``
pairs, or dicts) to numbers, or a ``CheckResult``.  Everything ends up as a ``Outcome``: a
status (Nagios's OK/WARNING/CRITICAL/UNKNOWN), a message and rows, each row the labels it adds
to the check's own and one value, so every kind of check is written to storage the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from guardia.model.labels import is_valid_label_name


class Status(IntEnum):
    """Nagios/Icinga plugin states; the value is the plugin exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def parse(cls, value: Status | str | int) -> Status:
        if isinstance(value, Status):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value) if 0 <= value <= 3 else cls.UNKNOWN
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise CheckResultError(f"status {value!r} is not one of ok, warning, critical, unknown (or 0-3)")


class CheckResultError(ValueError):
    """A check returned something guardia cannot turn into series."""


RowLabels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's full answer: a status, a value (or rows of values), a message, extra labels.

    ``value`` may be a number or a mapping of label sets to numbers, like a bare return value.
    """

    status: Status | str | int = Status.OK
    value: float | Mapping[Any, float] | None = None
    message: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One run of a check, ready to be stored: ``ok`` is False when the check itself failed
    (raised, timed out, could not connect); ``status`` is what it found when it ran."""

    ok: bool
    status: Status
    rows: tuple[tuple[RowLabels, float], ...] = ()
    message: str = ""
    duration_s: float = 0.0

    @classmethod
    def failed(cls, message: str, duration_s: float = 0.0) -> Outcome:
        return cls(False, Status.UNKNOWN, (), message, duration_s)


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    # Decimal from SQL drivers, numpy scalars
    try:
        return float(v)
    except (TypeError, ValueError):
        raise CheckResultError(f"{where} is {type(v).__name__} {v!r}, not a number") from None


def _label_set(key: Any) -> RowLabels:
    if isinstance(key, Mapping):
        items = list(key.items())
    elif isinstance(key, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in key):
        items = list(key)
    else:
        raise CheckResultError(
            f"mapping key {key!r} is not a label set: use a tuple of (name, value) pairs, "
            "e.g. ((\"status\", \"pending\"),)")
    out = []
    for name, value in items:
        if not isinstance(name, str) or not is_valid_label_name(name):
            raise CheckResultError(f"{name!r} in {key!r} is not a valid label name")
        out.append((name, "" if value is None else str(value)))
    return tuple(sorted(out))


def rows_of(value: Any, extra: Mapping[str, str] | None = None) -> tuple[tuple[RowLabels, float], ...]:
    """Rows from a number or a mapping of label sets to numbers (``extra`` added to each)."""
    base = tuple(sorted((str(k), str(v)) for k, v in (extra or {}).items()))
    if value is None:
        return ()
    if isinstance(value, Mapping):
        rows = []
        for key, v in value.items():
            labels = tuple(sorted({**dict(base), **dict(_label_set(key))}.items()))
            rows.append((labels, _number(v, f"the value for {key!r}")))
        return tuple(rows)
    return ((base, _number(value, "the returned value")),)


def outcome_of(returned: Any, duration_s: float) -> Outcome:
    """What a Python check's return value means."""
    if isinstance(returned, CheckResult):
        status = Status.parse(returned.status)
        rows = rows_of(returned.value, returned.labels)
        return Outcome(True, status, rows, returned.message, duration_s)
    if returned is None:
        raise CheckResultError("the check returned None: return a number, a mapping of label sets to "
                               "numbers, or a CheckResult")
    return Outcome(True, Status.OK, rows_of(returned), "", duration_s)
