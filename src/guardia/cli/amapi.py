"""What `guardia alert` and `guardia silence` share: the Alertmanager API v2 client calls, the
matcher arguments and the tables, all as amtool has them.

amtool's tables are Go tabwriter output: each cell padded to its column's width plus two
spaces, the last column included. Times print as ``2006-01-02 15:04:05 MST`` in local time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import typer

from guardia.model.am_matchers import parse_am_matchers
from guardia.model.labels import escape_label_value
from guardia.model.matchers import Matcher, MatcherError, MatchType

URL = typer.Option("http://127.0.0.1:9090", "--alertmanager.url",
                   help="guardia (its Alertmanager API) or an Alertmanager to talk to.")
OUTPUT = typer.Option("simple", "--output", "-o", help="Output format: simple, extended or json.")

_OPS = {MatchType.EQUAL: (False, True), MatchType.NOT_EQUAL: (False, False),
        MatchType.REGEX: (True, True), MatchType.NOT_REGEX: (True, False)}


class APIError(Exception):
    pass


def call(method: str, base: str, path: str, **kwargs: Any) -> Any:
    url = base.rstrip("/") + "/api/v2" + path
    try:
        r = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError as e:
        raise APIError(f"{url}: {e or type(e).__name__}") from None
    if r.status_code >= 400:
        raise APIError(f"{method} {url}: {r.status_code} {r.text.strip()}")
    return r.json() if r.content else None


def run(fn: Any) -> None:
    try:
        fn()
    except APIError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(1) from None


def matchers(args: list[str]) -> list[Matcher]:
    """amtool's matcher arguments: ``a=b``, ``a=~b``, ``{a="b", c!="d"}``; a first argument
    without an operator is the alert name."""
    out: list[Matcher] = []
    for i, a in enumerate(args):
        if i == 0 and not any(op in a for op in ("=", "~")):
            a = f"alertname={a}"
        try:
            out.extend(parse_am_matchers(a))
        except MatcherError as e:
            raise typer.BadParameter(f"{a!r}: {e}") from None
    return out


def api_matchers(ms: list[Matcher]) -> list[dict[str, Any]]:
    return [{"name": m.name, "value": m.value, "isRegex": _OPS[m.type][0], "isEqual": _OPS[m.type][1]}
            for m in ms]


def matcher_text(m: dict[str, Any]) -> str:
    op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[
        (bool(m.get("isRegex")), m.get("isEqual", True) is not False)]
    return f'{m["name"]}{op}"{escape_label_value(m["value"])}"'  # amtool: OpenMetrics escaping only


def labels_text(labels: dict[str, str]) -> str:
    """amtool's extended label column: ``name="value"`` pairs, sorted as strings, unescaped."""
    return " ".join(sorted(f'{k}="{v}"' for k, v in labels.items()))


def instant(rfc3339: str | None) -> float:
    """Seconds since the epoch of an API time, for ordering (missing: first)."""
    if not rfc3339:
        return 0.0
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def when(rfc3339: str | None) -> str:
    if not rfc3339:
        return ""
    t = datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone()
    return t.strftime("%Y-%m-%d %H:%M:%S %Z")


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("".join(cell.ljust(w + 2) for cell, w in zip(r, widths, strict=True))
                     for r in [header, *rows])


def check_output(fmt: str) -> None:
    if fmt not in ("simple", "extended", "json"):
        raise typer.BadParameter(f"--output {fmt!r}: use simple, extended or json")
