"""`guardia query instant|range|series|labels SERVER ...`: promtool's query commands.

Same arguments, flags and output as ``promtool query`` (text as Prometheus's Go client prints
results, or ``-o json``), against any server with the Prometheus HTTP API: guardia, Prometheus,
Thanos, Mimir, VictoriaMetrics. Errors go to stderr as ``query error: TYPE: MESSAGE``, exit 1.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from typing import Any

import httpx
import typer

from guardia.cli.promfmt import label_set, result_text
from guardia.model import DurationError, parse_duration

app = typer.Typer(
    help="Run queries against a Prometheus-API server (as `promtool query`).\n\n"
         "Examples:\n\n"
         "\b\n"
         "  guardia query instant http://127.0.0.1:9090 'up == 0'\n"
         "  guardia query range http://127.0.0.1:9090 'rate(http_requests_total[5m])' --start 1h\n"
         "  guardia query series http://127.0.0.1:9090 --match 'up{job=\"api\"}'\n"
         "  guardia query labels http://127.0.0.1:9090 job\n",
    no_args_is_help=True,
)

SERVER = typer.Argument(..., help="Prometheus-API server, e.g. http://127.0.0.1:9090")
FORMAT = typer.Option("promql", "--format", "-o", help="Output format: promql (text) or json.")


class QueryFailed(Exception):
    pass


def parse_time(text: str, now: float, flag: str) -> float:
    """RFC 3339 or Unix seconds, as promtool; also a duration before now (``1h`` = an hour ago)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        return now - parse_duration(text) / 1000
    except DurationError:
        raise typer.BadParameter(f"{flag} {text!r}: use RFC 3339 (2024-05-01T10:00:00Z), Unix seconds, "
                                 "or a duration back from now (1h)") from None


def _call(server: str, path: str, params: list[tuple[str, str]], post: bool = True) -> Any:
    url = server.rstrip("/") + path
    try:
        with httpx.Client(timeout=120) as client:
            r = client.post(url, data=dict(params)) if post else client.get(url, params=tuple(params))
    except httpx.HTTPError as e:
        raise QueryFailed(f"{url}: {e or type(e).__name__}") from None
    try:
        body = r.json()
    except ValueError:
        raise QueryFailed(f"{url} answered HTTP {r.status_code} without a JSON body: "
                          f"{r.text[:200]!r}") from None
    if body.get("status") != "success":
        raise QueryFailed(f"{body.get('errorType', 'error')}: {body.get('error', r.text[:200])}")
    for w in body.get("warnings") or []:
        typer.echo(f"query warning: {w}", err=True)
    return body.get("data")


def _run(fn: Any) -> None:
    try:
        fn()
    except QueryFailed as e:
        typer.echo(f"query error: {e}", err=True)
        raise typer.Exit(1) from None


def _check_format(fmt: str) -> None:
    if fmt not in ("promql", "json"):
        raise typer.BadParameter(f"--format {fmt!r}: use promql or json")


@app.command("instant")
def instant(
    server: str = SERVER,
    expr: str = typer.Argument(..., help="PromQL expression."),
    at: str = typer.Option("", "--time", help="Evaluation time (RFC 3339 or Unix seconds); default now."),
    fmt: str = FORMAT,
) -> None:
    """Run an instant query and print the result (as `promtool query instant`)."""
    _check_format(fmt)

    def go() -> None:
        params = [("query", expr)]
        if at:
            params.append(("time", f"{parse_time(at, time.time(), '--time'):.3f}"))
        data = _call(server, "/api/v1/query", params)
        typer.echo(json.dumps(data["result"], separators=(",", ":")) if fmt == "json" else result_text(data))

    _run(go)


@app.command("range")
def range_(
    server: str = SERVER,
    expr: str = typer.Argument(..., help="PromQL expression."),
    start: str = typer.Option("", "--start", help="Start (RFC 3339, Unix seconds, or e.g. 1h ago as 1h); "
                              "default 5m before --end."),
    end: str = typer.Option("", "--end", help="End (RFC 3339 or Unix seconds); default now."),
    step: str = typer.Option("", "--step",
                             help="Resolution (e.g. 15s); default (end-start)/250, at least 1s."),
    fmt: str = FORMAT,
) -> None:
    """Run a range query and print each series with its points (as `promtool query range`)."""
    _check_format(fmt)

    def go() -> None:
        now = time.time()
        e = parse_time(end, now, "--end") if end else now
        s = parse_time(start, now, "--start") if start else e - 300
        if s > e:
            raise typer.BadParameter("--start must be before --end")
        if step:
            try:
                st = parse_duration(step) / 1000
            except DurationError as err:
                raise typer.BadParameter(f"--step: {err}") from None
        else:
            st = max(math.floor((e - s) / 250), 1)
        data = _call(server, "/api/v1/query_range",
                     [("query", expr), ("start", f"{s:.3f}"), ("end", f"{e:.3f}"), ("step", f"{st:g}")])
        typer.echo(json.dumps(data["result"], separators=(",", ":")) if fmt == "json" else result_text(data))

    _run(go)


def _range_params(start: str, end: str) -> list[tuple[str, str]]:
    now = time.time()
    out = []
    if start:
        out.append(("start", f"{parse_time(start, now, '--start'):.3f}"))
    if end:
        out.append(("end", f"{parse_time(end, now, '--end'):.3f}"))
    return out


@app.command("series")
def series(
    server: str = SERVER,
    match: list[str] = typer.Option(..., "--match", help="Series selector (repeatable)."),
    start: str = typer.Option("", "--start", help="Start time (RFC 3339 or Unix seconds)."),
    end: str = typer.Option("", "--end", help="End time (RFC 3339 or Unix seconds)."),
    fmt: str = FORMAT,
) -> None:
    """Print the label sets of the series that match (as `promtool query series`)."""
    _check_format(fmt)

    def go() -> None:  # GET: repeated match[] in the query string
        params = [*(("match[]", m) for m in match), *_range_params(start, end)]
        data = _call(server, "/api/v1/series", params, post=False)
        if fmt == "json":
            typer.echo(json.dumps(data, separators=(",", ":")))
        else:
            for labels in data:
                typer.echo(label_set(labels))

    _run(go)


@app.command("labels")
def labels(
    server: str = SERVER,
    name: str = typer.Argument(..., help="Label name whose values to list."),
    match: list[str] = typer.Option([], "--match", help="Only series matching this selector (repeatable)."),
    start: str = typer.Option("", "--start", help="Start time (RFC 3339 or Unix seconds)."),
    end: str = typer.Option("", "--end", help="End time (RFC 3339 or Unix seconds)."),
    fmt: str = FORMAT,
) -> None:
    """Print the values of a label, one per line (as `promtool query labels`)."""
    _check_format(fmt)

    def go() -> None:
        params = [*(("match[]", m) for m in match), *_range_params(start, end)]
        data = _call(server, f"/api/v1/label/{name}/values", params, post=False)
        if fmt == "json":
            typer.echo(json.dumps(data, separators=(",", ":")))
        else:
            for v in data:
                typer.echo(v)

    _run(go)
