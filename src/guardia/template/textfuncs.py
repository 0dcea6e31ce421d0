"""Helpers shared by the Prometheus and Alertmanager function sets: Go's regexp replacement
syntax, strings.Title, and the humanize family (Prometheus's exact formatting rules)."""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
from typing import Any

from guardia.model.gostrings import go_quote
from guardia.template.errors import TemplateFuncError
from guardia.template.gofmt import go_type_name, sprintf
from guardia.template.gotime import GoDuration

_EXPAND_RE = re.compile(r"\$(\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise TemplateFuncError(
            f"regexp: Compile({go_quote(pattern)}): error parsing regexp: {e}") from None


def re_replace_all(pattern: str, repl: str, text: str) -> str:
    """regexp.ReplaceAllString: ``$1``, ``${1}``, ``$name`` and ``$$`` in ``repl``."""
    rx = _compile(_as_str(pattern))

    def expand(m: re.Match[str]) -> str:
        def one(em: re.Match[str]) -> str:
            if em.group(1) == "$":
                return "$"
            name = em.group(2) if em.group(2) is not None else em.group(3)
            if name is None or name == "":
                return ""
            try:
                g = m.group(int(name)) if name.isdigit() else m.group(name)
            except IndexError:
                return ""
            return g or ""
        return _EXPAND_RE.sub(one, repl)

    return rx.sub(expand, _as_str(text))



def match(pattern: str, text: str) -> bool:
    return _compile(_as_str(pattern)).search(_as_str(text)) is not None


def _as_str(v: Any) -> str:
    if not isinstance(v, str):
        raise TemplateFuncError(f"wrong type for value; expected string; got {go_type_name(v)}")
    return v


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def go_title(s: str) -> str:
    """strings.Title: upper-case the first letter of each word, leave the rest alone."""
    out = []
    prev = " "
    for ch in s:
        out.append(ch.upper()[:1] if _is_separator(prev) and ch.upper()[:1] else ch)
        if _is_separator(prev) and len(ch.upper()) != 1:
            out[-1] = unicodedata.normalize("NFC", ch.title())[:1] or ch
        prev = ch
    return "".join(out)


def cases_title(s: str) -> str:
    """golang.org/x/text cases.Title: first letter of each word upper, the rest lower."""
    out = []
    in_word = False
    for ch in s:
        if ch.isalnum() or (in_word and ch in "'’"):
            out.append(ch.lower() if in_word else ch.upper())
            in_word = True
        else:
            out.append(ch)
            in_word = False
    return "".join(out)


def to_float(v: Any) -> float:
    """Prometheus's convertToFloat: numbers, numeric strings and durations (in seconds)."""
    if isinstance(v, bool):
        raise TemplateFuncError("can't convert bool to float")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, GoDuration):
        return v.nanoseconds / 1e9
    if isinstance(v, str):
        s = v.strip() if False else v
        try:
            return _parse_go_float(s)
        except ValueError:
            raise TemplateFuncError(
                f'strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax') from None
    raise TemplateFuncError(f"can't convert {go_type_name(v)} to float")


def _parse_go_float(s: str) -> float:
    low = s.lower().lstrip("+-")
    if low in ("inf", "infinity"):
        return -math.inf if s.startswith("-") else math.inf
    if low == "nan":
        return math.nan
    if not s or s != s.strip() or ("_" in s and not re.fullmatch(r"[+-]?\d+(_\d+)*(\.\d*)?", s)):
        raise ValueError(s)
    if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?\d+)?", s):
        return float.fromhex(s.replace("_", ""))
    return float(s.replace("_", ""))


def _g4(v: float) -> str:
    return sprintf("%.4g", v)


def humanize(i: Any) -> str:
    v = to_float(i)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(i: Any) -> str:
    v = to_float(i)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_duration(i: Any) -> str:
    v = to_float(i)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        d = int(v)
        seconds = d % 60
        minutes = (d // 60) % 60
        hours = (d // 3600) % 24
        days = d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(i: Any) -> str:
    return _g4(to_float(i) * 100) + "%"


def time_from_seconds(v: float) -> _dt.datetime:
    from guardia.template.gotime import as_go_time

    ns = v * 1e9
    if ns > 2**63 - 1 or ns < -(2**63):
        raise TemplateFuncError(
            f"{sprintf('%v', v)} cannot be represented as a nanoseconds timestamp since it "
            "overflows int64")
    ns_i = int(ns)
    # model.TimeFromUnixNano keeps millisecond precision.
    ms = ns_i // 1_000_000
    return as_go_time(_dt.datetime.fromtimestamp(0, _dt.UTC)
                      + _dt.timedelta(milliseconds=ms))


def humanize_timestamp(i: Any) -> str:
    v = to_float(i)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    return str(time_from_seconds(v))
