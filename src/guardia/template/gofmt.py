"""Go's ``fmt`` formatting for template output and ``printf``.

Templates written for Prometheus and Alertmanager rely on exactly how Go prints values
(``1e+06`` for a float64 of a million, ``+Inf``, ``map[a:1]``, ``%!d(string=x)`` for a wrong
verb), so the output of a rule's annotation is the same as under Prometheus.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from guardia.model.gostrings import go_quote
from guardia.template.gotime import GoDuration, format_go_time


def go_type_name(v: Any) -> str:
    """The Go type a Python value stands for, as Go error messages spell it."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, GoDuration):
        return "time.Duration"
    if isinstance(v, _dt.datetime):
        return "time.Time"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, str) for x in v):
            return "[]string"
        return "[]interface {}"
    return type(v).__name__


def _digits(f: float, sig: int | None) -> tuple[str, int]:
    """Decimal digits (no trailing zeros) and decimal-point position of ``abs(f)``.

    ``sig`` None means the shortest digits that round-trip (Go's precision -1); otherwise
    the exact binary value is rounded half-to-even to ``sig`` significant digits, as Go does.
    """
    if f == 0:
        return "0", 1
    if sig is None:
        d = Decimal(repr(abs(f)))
    else:
        exact = Decimal(abs(f))
        d = exact.quantize(Decimal(1).scaleb(exact.adjusted() - sig + 1),
                           rounding=ROUND_HALF_EVEN)
    _, digit_tuple, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    raw = "".join(map(str, digit_tuple))
    stripped = raw.lstrip("0")
    dp = len(raw) + exponent - (len(raw) - len(stripped))
    return stripped.rstrip("0") or "0", dp


def _fmt_e(neg: bool, digs: str, dp: int, prec: int, ch: str = "e") -> str:
    first = digs[0]
    rest = (digs[1:] + "0" * prec)[:prec] if prec > 0 else ""
    exp = dp - 1 if digs != "0" else 0
    sign = "-" if exp < 0 else "+"
    e = abs(exp)
    es = f"{e:02d}"
    mant = first + ("." + rest if prec > 0 else "")
    return ("-" if neg else "") + mant + ch + sign + es


def _fmt_f(neg: bool, digs: str, dp: int, prec: int) -> str:
    intpart = digs[:dp] + "0" * max(0, dp - len(digs)) if dp > 0 else "0"
    frac = ""
    if prec > 0:
        for i in range(prec):
            j = dp + i
            frac += digs[j] if 0 <= j < len(digs) else "0"
    return ("-" if neg else "") + intpart + ("." + frac if prec > 0 else "")


def format_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """strconv.FormatFloat(f, verb, prec, 64) for verbs e, E, f, g, G (without fmt's sign rules)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg = math.copysign(1.0, f) < 0
    if verb in "fF":
        if prec < 0:
            digs, dp = _digits(f, None)
            return _fmt_f(neg, digs, dp, max(len(digs) - dp, 0))
        s = f"{abs(f):.{prec}f}"
        return ("-" if neg else "") + s
    if verb in "eE":
        if prec < 0:
            digs, dp = _digits(f, None)
            return _fmt_e(neg, digs, dp, len(digs) - 1, verb)
        digs, dp = _digits(f, prec + 1)
        return _fmt_e(neg, digs, dp, prec, verb)
    # g / G
    shortest = prec < 0
    if shortest:
        digs, dp = _digits(f, None)
        prec = len(digs)
        eprec = 6
    else:
        if prec == 0:
            prec = 1
        digs, dp = _digits(f, prec)
        eprec = prec
        if eprec > len(digs) and len(digs) >= dp:
            eprec = len(digs)
    exp = dp - 1
    if digs == "0":
        exp = 0
    if exp < -4 or exp >= eprec:
        if prec > len(digs):
            prec = len(digs)
        return _fmt_e(neg, digs, dp, prec - 1, "e" if verb == "g" else "E")
    if prec > dp:
        prec = len(digs)
    return _fmt_f(neg, digs, dp, max(prec - dp, 0))


def _sign_float(s: str, plus: bool, space: bool) -> str:
    if s.startswith("-") or (s == "NaN" and not (plus or space)):
        return s
    if s.startswith("+"):  # +Inf keeps its sign
        return s
    if plus:
        return "+" + s
    if space:
        return " " + s
    return s


def format_value(v: Any) -> str:
    """fmt.Sprint of one value (the ``%v`` verb)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v, "g", -1)
    if isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        return format_go_time(v)
    if isinstance(v, Mapping):
        inner = " ".join(
            f"{format_value(k)}:{format_value(v[k])}" for k in sorted(v, key=_sort_key)
        )
        return f"map[{inner}]"
    if isinstance(v, (list, tuple)) and not hasattr(v, "_fields"):
        return "[" + " ".join(format_value(x) for x in v) + "]"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        # Go prints a struct as {field1 field2 ...}
        return "{" + " ".join(format_value(getattr(v, f.name))
                              for f in dataclasses.fields(v)) + "}"
    return str(v)


def _sort_key(k: Any) -> Any:
    return (0, k) if isinstance(k, (int, float)) and not isinstance(k, bool) else (1, str(k))


def sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    prev_string = True
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(format_value(a))
        prev_string = is_string
    return "".join(out)


def sprintln(*args: Any) -> str:
    return " ".join(format_value(a) for a in args) + "\n"


def _bad(verb: str, v: Any) -> str:
    if v is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(v)}={format_value(v)})"


def _pad(s: str, width: int | None, minus: bool, zero: bool) -> str:
    if width is None or len(s) >= width:
        return s
    if minus:
        return s + " " * (width - len(s))
    if zero:
        sign = ""
        if s[:1] in "+- ":
            sign, s = s[0], s[1:]
        return sign + "0" * (width - len(s) - len(sign)) + s
    return " " * (width - len(s)) + s


def _fmt_int(v: int, verb: str, plus: bool, space: bool, sharp: bool, prec: int | None) -> str:
    neg = v < 0
    a = abs(v)
    if verb == "d" or verb == "v":
        body = str(a)
    elif verb == "x":
        body = f"{a:x}"
    elif verb == "X":
        body = f"{a:X}"
    elif verb == "o" or verb == "O":
        body = f"{a:o}"
    elif verb == "b":
        body = f"{a:b}"
    else:
        raise ValueError(verb)
    if prec is not None:
        body = body.rjust(prec, "0") if not (prec == 0 and a == 0) else ""
    if sharp:
        if verb == "x":
            body = "0x" + body
        elif verb == "X":
            body = "0X" + body
        elif verb == "o" and not body.startswith("0"):
            body = "0" + body
    if verb == "O":
        body = "0o" + body
    if neg:
        return "-" + body
    if plus:
        return "+" + body
    if space:
        return " " + body
    return body


def sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: v s d f F e E g G x X o b q t c U %."""
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            j = fmt.find("%", i)
            if j < 0:
                j = n
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        if i >= n:
            out.append("%!(NOVERB)")
            break
        plus = minus = sharp = zero = space = False
        while i < n and fmt[i] in "+-# 0":
            c = fmt[i]
            plus |= c == "+"
            minus |= c == "-"
            sharp |= c == "#"
            zero |= c == "0"
            space |= c == " "
            i += 1
        width: int | None = None
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and isinstance(args[argi], int):
                width = int(args[argi])
                if width < 0:
                    minus, width = True, -width
            argi += 1
        else:
            st = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > st:
                width = int(fmt[st:i])
        prec: int | None = None
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and isinstance(args[argi], int):
                    prec = int(args[argi])
                argi += 1
            else:
                st = i
                while i < n and fmt[i].isdigit():
                    i += 1
                prec = int(fmt[st:i]) if i > st else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        numeric = isinstance(arg, (int, float)) and not isinstance(arg, bool)
        if isinstance(arg, float) and not math.isfinite(arg):
            numeric = False
        text = _format_one(verb, arg, plus, space, sharp, prec)
        out.append(_pad(text, width, minus, zero and numeric))
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{go_type_name(a)}={format_value(a)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, arg: Any, plus: bool, space: bool, sharp: bool, prec: int | None) -> str:
    if verb == "T":
        return go_type_name(arg) if arg is not None else "<nil>"
    if isinstance(arg, bool):
        if verb in "vt":
            return "true" if arg else "false"
        return _bad(verb, arg)
    if isinstance(arg, int):
        if verb in "dvxXobO":
            return _fmt_int(arg, verb, plus, space, sharp, prec)
        if verb == "c":
            return chr(arg)
        if verb == "q":
            return "'" + go_quote(chr(arg))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'"
        if verb == "U":
            return f"U+{arg:04X}"
        return _bad(verb, arg)
    if isinstance(arg, float):
        if verb == "v":
            return _sign_float(format_float(arg, "g", -1 if prec is None else prec), plus, space)
        if verb in "eEfFgG":
            p = prec if prec is not None else (6 if verb in "eEfF" else -1)
            return _sign_float(format_float(arg, verb if verb != "F" else "f", p), plus, space)
        if verb in "xX":
            s = arg.hex()
            return s if verb == "x" else s.upper()
        return _bad(verb, arg)
    if isinstance(arg, GoDuration):
        if verb in "vs":
            return _trunc(str(arg), prec)
        if verb == "d":
            return _fmt_int(arg.nanoseconds, "d", plus, space, sharp, prec)
        return _bad(verb, arg)
    if isinstance(arg, (str, bytes)):
        s = arg.decode() if isinstance(arg, bytes) else arg
        if verb in "vs":
            return _trunc(s, prec)
        if verb == "q":
            s = _trunc(s, prec)
            if sharp and "`" not in s:
                return "`" + s + "`"
            return go_quote(s)
        if verb in "xX":
            h = _trunc(s, prec).encode().hex()
            return h if verb == "x" else h.upper()
        return _bad(verb, arg)
    if arg is None:
        if verb == "v":
            return "<nil>"
        return _bad(verb, arg)
    if verb in "vs":
        return _trunc(format_value(arg), prec) if verb == "s" else format_value(arg)
    if verb == "q" and hasattr(arg, "__str__"):
        return go_quote(str(arg))
    return _bad(verb, arg)


def _trunc(s: str, prec: int | None) -> str:
    return s if prec is None else s[:prec]


def is_sequence(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes))
