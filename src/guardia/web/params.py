"""Request parameters as Prometheus reads them: query string and POST form, merged.

Grafana sends ``query_range`` as a POST form and ``labels`` with repeated ``match[]``; promtool
uses GET.  Both land in one ``Params`` multi-dict.  Parsing errors carry Prometheus's wording
(``invalid parameter "start": ...``) so clients that show the message show a familiar one.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl

import promql_parser
from starlette.requests import Request

from guardia.model import Matcher, MatcherError, MatchType, parse_duration, parse_timestamp
from guardia.model.durations import DurationError
from guardia.model.timestamps import TimestampError
from guardia.web.envelope import ApiError, bad_data

# The bounds Prometheus substitutes for an absent start/end (and accepts spelled out).
MIN_TIME_MS = -9223309901257974
MAX_TIME_MS = 9223309901257974
_MIN_TIME_STRINGS = ("-292273086-05-16T16:47:04.192Z", "-292273086-05-16T16:47:06Z")
_MAX_TIME_STRINGS = ("292277025-08-18T07:12:54.784Z", "292277025-08-18T07:12:54.999999999Z")

MAX_FORM_BYTES = 10 * 1024 * 1024  # what Go's ParseForm accepts


class Params:
    """All values of every parameter, query string first, then form body."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._d: dict[str, list[str]] = {}
        for k, v in items:
            self._d.setdefault(k, []).append(v)

    def get(self, name: str) -> str | None:
        vals = self._d.get(name)
        return vals[0] if vals else None

    def getlist(self, name: str) -> list[str]:
        return list(self._d.get(name, ()))

    def __contains__(self, name: object) -> bool:
        return name in self._d


async def read_params(request: Request) -> Params:
    """Merge URL query parameters with an ``application/x-www-form-urlencoded`` body."""
    items = list(parse_qsl(request.url.query, keep_blank_values=True))
    if request.method in ("POST", "PUT"):
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
                raise ApiError("bad_data", "error parsing form values: http: POST too large", 413)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FORM_BYTES:
                    raise ApiError("bad_data", "error parsing form values: http: POST too large", 413)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise bad_data("error parsing form values: body is not valid UTF-8") from None
            items.extend(parse_qsl(text, keep_blank_values=True))
    return Params(items)


def parse_time_param(params: Params, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    return parse_time_value(raw, name)


def parse_time_value(raw: str, name: str) -> int:
    if raw in _MIN_TIME_STRINGS:
        return MIN_TIME_MS
    if raw in _MAX_TIME_STRINGS:
        return MAX_TIME_MS
    try:
        t = parse_timestamp(raw)
    except TimestampError:
        raise bad_data(f'invalid parameter "{name}": cannot parse "{raw}" to a valid timestamp') from None
    return max(MIN_TIME_MS, min(MAX_TIME_MS, t))


def parse_duration_param(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_duration(raw, allow_float_seconds=True)
    except DurationError:
        raise bad_data(f'invalid parameter "{name}": cannot parse "{raw}" to a valid duration') from None


def parse_limit(params: Params) -> int:
    """``limit`` (0 = no limit), refused when negative or not an integer as Prometheus does."""
    raw = params.get("limit")
    if raw is None or raw == "":
        return 0
    try:
        n = int(raw)
    except ValueError:
        raise bad_data(f'invalid parameter "limit": cannot parse "{raw}" to a valid integer') from None
    if n < 0:
        raise bad_data('invalid parameter "limit": limit must be non-negative')
    return n


_OPS = {
    "MatchOp.Equal": MatchType.EQUAL,
    "MatchOp.NotEqual": MatchType.NOT_EQUAL,
    "MatchOp.Re": MatchType.REGEX,
    "MatchOp.NotRe": MatchType.NOT_REGEX,
}


def parse_selector(text: str) -> list[Matcher]:
    """A series selector (``up{job="x"}``, ``{__name__=~"a.*"}``) as a list of matchers.

    Parsed with the PromQL parser, so quoting and escapes are those of PromQL.  A selector
    that matches every series (all matchers match "") is refused, as Prometheus does.
    """
    try:
        expr = promql_parser.parse(text)
    except ValueError as e:
        raise bad_data(f'invalid parameter "match[]": 1:1: parse error: {e}') from None
    if not isinstance(expr, promql_parser.VectorSelector):
        raise bad_data(
            f'invalid parameter "match[]": 1:1: parse error: expected a series selector like '
            f'up{{job="x"}}, got {text!r}'
        )
    if expr.matchers.or_matchers:
        raise bad_data('invalid parameter "match[]": "or" in series selectors is not supported')
    out: list[Matcher] = []
    try:
        if expr.name:
            out.append(Matcher.equal("__name__", expr.name))
        for m in expr.matchers.matchers:
            out.append(Matcher(m.name, _OPS[str(m.op)], m.value))
    except MatcherError as e:
        raise bad_data(f'invalid parameter "match[]": {e}') from None
    if not out or all(m.matches_empty for m in out):
        raise bad_data(
            'invalid parameter "match[]": match[] must contain at least one non-empty matcher'
        )
    return out


def parse_match_params(params: Params, name: str = "match[]") -> list[list[Matcher]]:
    return [parse_selector(s) for s in params.getlist(name)]
