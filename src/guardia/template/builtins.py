"""Go's predefined template functions (and, or, not, len, index, slice, print*, eq..., html,
js, urlquery, call), with Go's comparison rules: ``gt $value 80`` on a float64 and an int
is an error, exactly as under Prometheus, so rule files behave the same everywhere."""

from __future__ import annotations

import html as _html
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

from guardia.template.errors import TemplateFuncError
from guardia.template.gofmt import go_type_name, sprint, sprintf, sprintln


def truth(v: Any) -> bool:
    """Go's template truth: false, 0, nil, and empty strings/collections are false."""
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, bytes, Sequence, Mapping)):
        return len(v) > 0
    try:
        return len(v) > 0  # type: ignore[arg-type]
    except TypeError:
        return True


class SafeHTML(str):
    """Text marked safe by ``safeHtml``: an HTML-escaping template prints it unchanged."""

    __slots__ = ()


class StringMap(dict[str, str]):
    """A map[string]string (labels, annotations): a missing key reads as "" under
    missingkey=zero even when the map is empty, as in Go."""


def zero_for_map(m: Mapping[Any, Any]) -> Any:
    """The zero value of a map's element type: "" for string maps (labels), else nil."""
    if isinstance(m, StringMap) or (m and all(isinstance(v, str) for v in m.values())):
        return ""
    return None


def _kind(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, dict)) or callable(v):
        return "noncomparable"
    return "other"


_BAD_CMP = "incompatible types for comparison"


def eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise TemplateFuncError("missing argument for comparison")
    k1 = _kind(arg1)
    if k1 == "noncomparable":
        raise TemplateFuncError("invalid type for comparison")
    for a in args:
        k2 = _kind(a)
        if k2 == "noncomparable":
            raise TemplateFuncError("invalid type for comparison")
        if k1 != k2:
            if k1 == "nil" or k2 == "nil":
                continue
            raise TemplateFuncError(_BAD_CMP)
        if arg1 == a:
            return True
    return False


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def _ordered(a: Any, b: Any) -> None:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise TemplateFuncError("invalid type for comparison")
    if ka != kb:
        raise TemplateFuncError(_BAD_CMP)


def lt(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a < b)


def le(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a <= b)


def gt(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a > b)


def ge(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return bool(a >= b)


def not_(v: Any) -> bool:
    return not truth(v)


def length(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (bytes, Sequence, Mapping)):
        return len(v)
    raise TemplateFuncError(f"len of type {go_type_name(v)}")


def _int_index(i: Any, cap: int) -> int:
    if isinstance(i, bool) or not isinstance(i, int):
        raise TemplateFuncError(f"cannot index slice/array with type {go_type_name(i)}")
    if i < 0 or i >= cap:
        raise TemplateFuncError(f"index out of range: {i}")
    return i


def index(item: Any, *indexes: Any) -> Any:
    v = item
    for i in indexes:
        if v is None:
            raise TemplateFuncError("index of untyped nil")
        if isinstance(v, Mapping):
            v = v[i] if i in v else zero_for_map(v)
        elif isinstance(v, str):
            v = v.encode()[_int_index(i, len(v.encode()))]
        elif isinstance(v, Sequence):
            v = v[_int_index(i, len(v))]
        else:
            raise TemplateFuncError(f"can't index item of type {go_type_name(v)}")
    return v


def slice_(item: Any, *idx: Any) -> Any:
    if not isinstance(item, (str, Sequence)):
        raise TemplateFuncError(f"can't slice item of type {go_type_name(item)}")
    if len(idx) > 3:
        raise TemplateFuncError(f"too many slice indexes: {len(idx)}")
    if isinstance(item, str) and len(idx) == 3:
        raise TemplateFuncError("cannot 3-index slice a string")
    n = len(item)
    vals = [int(i) for i in idx]
    for v in vals:
        if v < 0 or v > n:
            raise TemplateFuncError(f"index out of range: {v}")
    if len(vals) >= 2 and vals[0] > vals[1]:
        raise TemplateFuncError(f"invalid slice index: {vals[0]} > {vals[1]}")
    if len(vals) == 0:
        return item
    if len(vals) == 1:
        return item[vals[0]:]
    return item[vals[0]:vals[1]]


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*args)


def html_escape(*args: Any) -> str:
    s = _eval_args(args)
    return (_html.escape(s, quote=False).replace('"', "&#34;").replace("'", "&#39;")
            .replace("\x00", "\ufffd"))


def js_escape(*args: Any) -> str:
    out = []
    for ch in _eval_args(args):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == '"':
            out.append('\\"')
        elif ch in "<>&=" or ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args), safe="")


def call(fn: Any, *args: Any) -> Any:
    if not callable(fn):
        raise TemplateFuncError(f"non-function of type {go_type_name(fn)}")
    return fn(*args)


def _and(*args: Any) -> Any:  # real evaluation is lazy, in exec
    for a in args:
        if not truth(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if truth(a):
            return a
    return args[-1]


BUILTINS: dict[str, Callable[..., Any]] = {
    "and": _and,
    "or": _or,
    "not": not_,
    "len": length,
    "index": index,
    "slice": slice_,
    "print": sprint,
    "printf": sprintf,
    "println": sprintln,
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "html": html_escape,
    "js": js_escape,
    "urlquery": urlquery,
    "call": call,
}
