"""Gatus-style conditions on a probe's answer: ``[STATUS] == 200``, ``[BODY].status == UP``.

Teams moving from Gatus keep their conditions as written.  Placeholders: ``[STATUS]``,
``[RESPONSE_TIME]`` (milliseconds), ``[BODY]`` and ``[BODY].path.to[0].field`` (a JSON
body), ``[CERTIFICATE_EXPIRATION]`` (compared with a duration such as ``336h``),
``[CONNECTED]``, ``[IP]``, ``[DNS_RCODE]``, ``[GRPC_STATUS]``.  Operators ``== != < <= > >=``;
functions ``len(...)``, ``has(...)``, ``pat(...)`` (``*`` wildcards) and ``any(a, b, ...)``.
A condition that does not hold fails the probe with the condition and the value seen.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from guardia.model.durations import DurationError, parse_duration

_OPS = ("==", "!=", "<=", ">=", "<", ">")
_OP_SPLIT = re.compile(r"\s(==|!=|<=|>=|<|>)\s")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
PLACEHOLDERS = ("[STATUS]", "[RESPONSE_TIME]", "[BODY]", "[CERTIFICATE_EXPIRATION]", "[CONNECTED]", "[IP]",
                "[DNS_RCODE]", "[GRPC_STATUS]")
_MISSING = object()


class ConditionError(ValueError):
    """A condition that cannot be parsed; the message shows the accepted form."""


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    left: str
    op: str
    right: str

    def evaluate(self, observed: dict[str, Any]) -> tuple[bool, str]:
        """(holds, the left side's value as seen) for a probe's observations."""
        lhs = resolve(self.left, observed)
        if self.op in ("==", "!=") and _is_call(self.right, "any"):
            options = [resolve(a.strip(), observed) for a in _args(self.right, "any").split(",")]
            hit = any(_equal(lhs, o) for o in options)
            return (hit if self.op == "==" else not hit), _show(lhs)
        if self.op in ("==", "!=") and _is_call(self.right, "pat"):
            pattern = _args(self.right, "pat")
            hit = lhs is not _MISSING and fnmatch.fnmatchcase(_text(lhs), pattern)
            return (hit if self.op == "==" else not hit), _show(lhs)
        rhs = resolve(self.right, observed)
        if self.left.strip() == "[CERTIFICATE_EXPIRATION]" and isinstance(rhs, str):
            with contextlib.suppress(DurationError):
                rhs = parse_duration(rhs)
        if lhs is _MISSING or rhs is _MISSING:
            return self.op == "!=", _show(lhs)
        if self.op == "==":
            return _equal(lhs, rhs), _show(lhs)
        if self.op == "!=":
            return not _equal(lhs, rhs), _show(lhs)
        a, b = _number(lhs), _number(rhs)
        if a is None or b is None:
            return False, _show(lhs)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op], _show(lhs)


def parse_condition(text: str) -> Condition:
    parts = _OP_SPLIT.split(text.strip(), maxsplit=1)
    if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
        raise ConditionError(f"condition {text!r} must be 'LEFT OPERATOR RIGHT' with one of "
                             f"{' '.join(_OPS)} between spaces, e.g. '[STATUS] == 200'")
    left, op, right = (p.strip() for p in parts)
    for side in (left, right):
        inner = _strip_call(side)
        if inner.startswith("[") and not any(inner.startswith(p) for p in PLACEHOLDERS):
            raise ConditionError(f"condition {text!r}: unknown placeholder {inner.split(']')[0]}]; "
                                 f"use one of {', '.join(PLACEHOLDERS)}")
    return Condition(text.strip(), left, op, right)


def _is_call(text: str, name: str) -> bool:
    return text.startswith(name + "(") and text.endswith(")")


def _args(text: str, name: str) -> str:
    return text[len(name) + 1:-1]


def _strip_call(side: str) -> str:
    for fn in ("len", "has", "pat", "any"):
        if _is_call(side, fn):
            return _args(side, fn).strip()
    return side


def resolve(side: str, observed: dict[str, Any]) -> Any:
    """The value a side of a condition stands for (a literal stays as text)."""
    side = side.strip()
    if _is_call(side, "len"):
        v = resolve(_args(side, "len"), observed)
        return 0 if v is _MISSING else len(v) if isinstance(v, list | dict | str) else len(_text(v))
    if _is_call(side, "has"):
        return resolve(_args(side, "has"), observed) is not _MISSING
    if side == "[STATUS]":
        return observed.get("status", _MISSING)
    if side == "[RESPONSE_TIME]":
        return observed.get("response_time_ms", _MISSING)
    if side == "[CONNECTED]":
        return observed.get("connected", False)
    if side == "[IP]":
        return observed.get("ip", _MISSING)
    if side == "[DNS_RCODE]":
        return observed.get("dns_rcode", _MISSING)
    if side == "[GRPC_STATUS]":
        return observed.get("grpc_status", _MISSING)
    if side == "[CERTIFICATE_EXPIRATION]":
        expiry = observed.get("certificate_expiry")
        if not isinstance(expiry, datetime):
            return _MISSING
        return int((expiry - datetime.now(UTC)).total_seconds() * 1000)
    if side.startswith("[BODY]"):
        body = observed.get("body", _MISSING)
        if body is _MISSING:
            return _MISSING
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        path = side[len("[BODY]"):]
        if not path:
            return text
        try:
            value: Any = json.loads(text)
        except ValueError:
            return _MISSING
        for name, index in _PATH_PART.findall(path.lstrip(".")):
            if index:
                if not isinstance(value, list) or int(index) >= len(value):
                    return _MISSING
                value = value[int(index)]
            else:
                if not isinstance(value, dict) or name not in value:
                    return _MISSING
                value = value[name]
        return value
    return side


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(str(v))
    except ValueError:
        return None


def _equal(a: Any, b: Any) -> bool:
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return x == y
    return _text(a) == _text(b)


def _show(v: Any) -> str:
    return "(missing)" if v is _MISSING else _text(v)
