"""Alertmanager's default template functions (notification templates)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from guardia.template.builtins import SafeHTML
from guardia.template.errors import TemplateFuncError
from guardia.template.gotime import GoDuration, as_go_time, go_time_format
from guardia.template.textfuncs import cases_title, humanize_duration, match, re_replace_all


def _join(sep: str, items: Sequence[str]) -> str:
    return sep.join(str(x) for x in items)


def _url_unescape(s: str) -> str:
    import re

    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        bad = re.search(r"%.{0,2}", s)
        raise TemplateFuncError(f'invalid URL escape "{bad.group(0) if bad else "%"}"')
    return unquote_plus(s)


def _date(layout: str, t: _dt.datetime) -> str:
    return go_time_format(t, layout)


def _tz(name: str, t: _dt.datetime) -> _dt.datetime:
    try:
        zone = _dt.UTC if name in ("UTC", "") else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TemplateFuncError(f"unknown time zone {name}") from None
    return as_go_time(t.astimezone(zone))


def _since(t: _dt.datetime) -> GoDuration:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    delta = _dt.datetime.now(_dt.UTC) - t
    return GoDuration(int(delta.total_seconds() * 1e9))


def _to_json(v: Any) -> str:
    try:
        return json.dumps(v, separators=(",", ":"), default=str)
    except (TypeError, ValueError) as e:
        raise TemplateFuncError(str(e)) from None


def alertmanager_funcs() -> dict[str, Callable[..., Any]]:
    """The function map Alertmanager gives notification templates."""
    return {
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "title": cases_title,
        "trimSpace": lambda s: s.strip(" \t\n\r\v\f"),
        "join": _join,
        "match": match,
        "safeHtml": SafeHTML,
        "safeUrl": lambda text: text,
        "urlUnescape": _url_unescape,
        "reReplaceAll": re_replace_all,
        "stringSlice": lambda *s: list(s),
        "date": _date,
        "tz": _tz,
        "since": _since,
        "humanizeDuration": humanize_duration,
        "toJson": _to_json,
    }
