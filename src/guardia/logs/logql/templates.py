"""``line_format`` / ``label_format`` templates: Go text/template with Loki's functions.

The data is the line's labels (``{{.status}}``); ``__line__`` and ``__timestamp__`` are
functions reading the current line, so one parsed template serves every line.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from guardia.logs.errors import QueryError
from guardia.logs.logql.units import duration_seconds, parse_bytes
from guardia.model.re2syntax import translate
from guardia.template import Template, TemplateError, as_go_time, go_time_format


def _num(v: Any) -> float:
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(str(v))
    except ValueError:
        return 0.0


def _int_or_float(f: float) -> Any:
    return int(f) if float(f).is_integer() else f


def _funcs(state: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    def regex_replace_all(rx: str, s: str, repl: str) -> str:
        return re.sub(translate(rx), re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", repl), str(s))

    def trunc(n: int, s: str) -> str:
        n = int(n)
        return s[:n] if n >= 0 else s[n:]

    def substr(start: int, end: int, s: str) -> str:
        start, end = int(start), int(end)
        if start < 0:
            return s[:end]
        if end < 0 or end > len(s):
            return s[start:]
        return s[start:end]

    def date(fmt: str, t: Any) -> str:
        return go_time_format(_as_time(t), fmt)

    def default(d: Any, v: Any = None) -> Any:
        return d if v in (None, "") else v

    return {
        "__line__": lambda: state["line"],
        "__timestamp__": lambda: _as_time(state["ts"]),
        "ToLower": lambda s: str(s).lower(),
        "lower": lambda s: str(s).lower(),
        "ToUpper": lambda s: str(s).upper(),
        "upper": lambda s: str(s).upper(),
        "title": lambda s: str(s).title(),
        "Replace": lambda s, old, new, n: str(s).replace(old, new, int(n) if int(n) >= 0 else -1),
        "replace": lambda old, new, s: str(s).replace(old, new),
        "Trim": lambda s, cut: str(s).strip(cut),
        "TrimLeft": lambda s, cut: str(s).lstrip(cut),
        "TrimRight": lambda s, cut: str(s).rstrip(cut),
        "TrimSpace": lambda s: str(s).strip(),
        "trim": lambda s: str(s).strip(),
        "TrimPrefix": lambda s, p: str(s).removeprefix(p),
        "TrimSuffix": lambda s, p: str(s).removesuffix(p),
        "trimPrefix": lambda p, s: str(s).removeprefix(p),
        "trimSuffix": lambda p, s: str(s).removesuffix(p),
        "trimAll": lambda cut, s: str(s).strip(cut),
        "regexReplaceAll": regex_replace_all,
        "regexReplaceAllLiteral": lambda rx, s, repl: re.sub(translate(rx), lambda _m: repl, str(s)),
        "trunc": trunc,
        "substr": substr,
        "contains": lambda sub, s: sub in str(s),
        "hasPrefix": lambda p, s: str(s).startswith(p),
        "hasSuffix": lambda p, s: str(s).endswith(p),
        "repeat": lambda n, s: str(s) * int(n),
        "indent": lambda n, s: "\n".join(" " * int(n) + ln for ln in str(s).split("\n")),
        "nindent": lambda n, s: "\n" + "\n".join(" " * int(n) + ln for ln in str(s).split("\n")),
        "default": default,
        "count": lambda sub, s: len(re.findall(translate(sub), str(s))),
        "add": lambda a, b: _int_or_float(_num(a) + _num(b)),
        "sub": lambda a, b: _int_or_float(_num(a) - _num(b)),
        "mul": lambda a, b: _int_or_float(_num(a) * _num(b)),
        "div": lambda a, b: _int_or_float(_num(a) // _num(b)) if _num(b) else 0,
        "mod": lambda a, b: _int_or_float(math.fmod(_num(a), _num(b))) if _num(b) else 0,
        "addf": lambda a, b: _num(a) + _num(b),
        "subf": lambda a, b: _num(a) - _num(b),
        "mulf": lambda a, b: _num(a) * _num(b),
        "divf": lambda a, b: _num(a) / _num(b) if _num(b) else math.inf,
        "round": lambda v: round(_num(v)),
        "ceil": lambda v: math.ceil(_num(v)),
        "floor": lambda v: math.floor(_num(v)),
        "max": lambda *vs: _int_or_float(max(_num(v) for v in vs)),
        "min": lambda *vs: _int_or_float(min(_num(v) for v in vs)),
        "int": lambda v: int(_num(v)),
        "float64": _num,
        "date": date,
        "unixEpoch": lambda t: str(int(_as_time(t).timestamp())),
        "unixEpochMillis": lambda t: str(int(_as_time(t).timestamp() * 1000)),
        "unixEpochNanos": lambda t: str(int(_as_time(t).timestamp() * 1e9)),
        "toDate": lambda fmt, s: _parse_go_time(fmt, str(s)),
        "now": lambda: as_go_time(dt.datetime.now(dt.UTC)),
        "fromJson": _from_json,
        "b64enc": lambda s: __import__("base64").b64encode(str(s).encode()).decode(),
        "b64dec": lambda s: __import__("base64").b64decode(str(s)).decode("utf-8", "replace"),
        "urlencode": lambda s: __import__("urllib.parse").parse.quote_plus(str(s)),
        "urldecode": lambda s: __import__("urllib.parse").parse.unquote_plus(str(s)),
        "alignLeft": lambda n, s: str(s)[: int(n)].ljust(int(n)),
        "alignRight": lambda n, s: str(s)[-int(n) :].rjust(int(n)),
        "bytes": lambda s: _bytes(str(s)),
        "duration": lambda s: _duration(str(s)),
        "duration_seconds": lambda s: _duration(str(s)),
    }


def _as_time(t: Any) -> Any:
    if isinstance(t, int):
        return as_go_time(dt.datetime.fromtimestamp(t / 1e9, dt.UTC))
    return t


def _parse_go_time(fmt: str, s: str) -> Any:
    # the common layouts: RFC3339 and "2006-01-02"
    for layout, pyfmt in (("2006-01-02", "%Y-%m-%d"), ("2006-01-02 15:04:05", "%Y-%m-%d %H:%M:%S")):
        if fmt == layout:
            return as_go_time(dt.datetime.strptime(s, pyfmt).replace(tzinfo=dt.UTC))
    return as_go_time(dt.datetime.fromisoformat(s.replace("Z", "+00:00")))


def _from_json(s: str) -> Any:
    import orjson

    try:
        return orjson.loads(s)
    except orjson.JSONDecodeError:
        return ""


def _bytes(s: str) -> float:
    try:
        return parse_bytes(s)
    except ValueError:
        return 0.0


def _duration(s: str) -> float:
    try:
        return duration_seconds(s)
    except ValueError:
        return 0.0


def compile_template(text: str) -> Callable[[int, str, dict[str, str]], str]:
    state: dict[str, Any] = {"line": "", "ts": 0}
    try:
        tmpl = Template(_funcs(state)).parse(text, "line")
    except TemplateError as e:
        raise QueryError(f"invalid template {text!r}: {e}") from None

    def render(ts: int, line: str, labels: dict[str, str]) -> str:
        state["line"] = line
        state["ts"] = ts
        try:
            return tmpl.execute(labels)
        except TemplateError:
            labels["__error__"] = "TemplateFormatErr"
            return line

    return render
