"""`guardia slo backtest NAME --since 30d`: replay stored history through an SLO's alerts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import typer

from guardia.config.errors import ConfigError

HELP = (
    "Replay stored data through an SLO: when each of its alerts would have fired and resolved, "
    "and the error budget at the end.\n\n"
    "The SLO comes from --config (a guardia.yml with slos:) or --file (a sloth, pyrra or guardia "
    "SLO file); the data from a running guardia or Prometheus (--url) or a guardia data "
    "directory (--storage.tsdb.path, read-only: works while guardia runs).\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia slo backtest requests-availability --since 30d --config guardia.yml\n"
    "  guardia slo backtest api/latency --since 7d --file slos/api.yml --url http://127.0.0.1:9090\n"
)

app = typer.Typer(help=HELP, no_args_is_help=True)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@app.callback(invoke_without_command=True)
def main(
    name: str = typer.Argument(..., help="The SLO: its name, or service/name."),
    since: str = typer.Option("30d", "--since", help="How far back to replay (e.g. 7d, 30d, 12w)."),
    config: str = typer.Option("", "--config", help="guardia.yml whose slos: define NAME."),
    file: str = typer.Option("", "--file", help="An SLO file (sloth, pyrra or guardia) defining NAME."),
    url: str = typer.Option("", "--url", help="Read data from this Prometheus API (a running "
                            "guardia or a Prometheus); default http://127.0.0.1:9090."),
    data_dir: str = typer.Option("", "--storage.tsdb.path",
                                 help="Read data from this guardia data directory."),
    step: str = typer.Option("1m", "--step", help="Evaluation interval to replay at."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Exit 0 after printing the replay, 1 on bad input or unreachable data."""
    from guardia.model.durations import format_duration, parse_duration
    from guardia.slo.backtest import backtest, engine_queries, http_queries
    from guardia.slo.load import find, load_any

    source = file or config or "guardia.yml"
    try:
        slos, _ = load_any(source)
        slo = find(slos, name)
        since_ms = parse_duration(since)
        step_ms = parse_duration(step)
    except ConfigError as e:
        for issue in e.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None
    except (KeyError, ValueError) as e:
        typer.echo(f"error: {e.args[0] if e.args else e}", err=True)
        raise typer.Exit(1) from None
    if step_ms <= 0 or since_ms <= 0:
        typer.echo("error: --since and --step must be positive durations", err=True)
        raise typer.Exit(1)
    end = int(time.time() * 1000)
    db = None
    if data_dir:
        from guardia.promql import Engine
        from guardia.storage.tsdb import TSDB

        db = TSDB.open(data_dir, read_only=True)
        rq, iq = engine_queries(Engine(), db)
    else:
        rq, iq = http_queries(url or "http://127.0.0.1:9090")
    try:
        res = backtest(slo, rq, iq, end - since_ms, end, step_ms)
    except Exception as e:  # the data source failing is the user's to fix, not a traceback
        typer.echo(f"error: replay failed: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        if db is not None:
            db.close()
    if as_json:
        typer.echo(json.dumps(res.to_json(), indent=2))
        return
    typer.echo(f"SLO {slo.service}/{slo.name}: {slo.objective * 100:g}% over {slo.period}; replayed "
               f"{_when(res.start_ms)} to {_when(res.end_ms)} UTC every {format_duration(step_ms)}")
    if not res.episodes:
        typer.echo("  no alert would have fired")
    for ep in res.episodes:
        what = ep.alert if "slo_severity" not in ep.labels else (
            f"{ep.alert} {ep.labels['slo_severity']} {ep.labels['slo_long_window']}/"
            f"{ep.labels['slo_short_window']}")
        end_txt = ("still firing" if ep.resolved_ms is None else
                   f"resolved {_when(ep.resolved_ms)} ({format_duration(ep.resolved_ms - ep.fired_ms)})")
        typer.echo(f"  {what:<40} fired {_when(ep.fired_ms)}  {end_txt}")
    if res.budget_remaining is None:
        typer.echo(f"budget at the end: no data since {_when(res.period_start_ms)}")
    else:
        typer.echo(f"budget at the end (period since {_when(res.period_start_ms)}): "
                   f"{res.budget_remaining * 100:.1f}% remaining, error ratio "
                   f"{(res.error_ratio or 0) * 100:.4f}% (objective allows {slo.budget * 100:g}%)")
