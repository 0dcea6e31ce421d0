"""`guardia report ops`: an operations report from stored data, every figure with its PromQL."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

HELP = (
    "Write an operations report over a window, against a baseline before it: availability and "
    "outages, latency quantiles with a significance test, error and success rates against the "
    "SLOs, resources with a memory-leak test, cache hit ratio, restarts, anomalies, alerts, "
    "deployments and a score with its formula. Every figure carries the PromQL that produced "
    "it; what could not be evaluated is listed, never passed.\n\n"
    "Data comes from a running guardia or any Prometheus-API server (--url, default "
    "http://127.0.0.1:9090) or a guardia data directory (--data-dir, opened read-only: works "
    "while guardia runs).\n\n"
    "Examples:\n\n"
    "\b\n"
    "  guardia report ops --window 24h --baseline 7d\n"
    "  guardia report ops --service api --format json --url http://127.0.0.1:9090\n"
    "  guardia report ops --since-deploy v1.4.2 --data-dir /var/lib/guardia --config guardia.yml\n"
    "  guardia report ops --format pdf --output ops.pdf\n"
)

app = typer.Typer(help=HELP)

FORMATS = ("md", "json", "html", "pdf")


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(1)


def _load_config(path: str) -> tuple[Any, list[Any]]:
    """(the ``reports:`` section, the SLOs) of a guardia.yml; both empty without one."""
    if not path:
        return {}, []  # before the imports: the config loader costs 0.15 s of start-up
    from guardia.config.errors import ConfigError
    from guardia.config.loader import load_config
    from guardia.slo.load import load_config_slos

    try:
        cfg = load_config(path)
        slos, _ = load_config_slos(path) if cfg.slos else ([], [])
    except ConfigError as e:
        for issue in e.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None
    except OSError as e:
        raise _fail(f"cannot read {path}: {e}") from None
    return cfg.sections.reports, slos


@app.callback(invoke_without_command=True)
def ops(
    window: str = typer.Option("24h", "--window", help="The report's window, ending now (e.g. 24h, 7d)."),
    baseline: str = typer.Option("7d", "--baseline", help="The baseline: this long before the window."),
    service: str = typer.Option("", "--service", help="Only this service (the job label; deployments' "
                                "service label)."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, json, html or pdf."),
    url: str = typer.Option("", "--url", help="A Prometheus-API server to read from."),
    data_dir: str = typer.Option("", "--data-dir", "--storage.tsdb.path",
                                 help="A guardia data directory to read from (read-only)."),
    since_deploy: str = typer.Option("", "--since-deploy", help="Start the window when this version's "
                                     "deployment finished (guardia_deployment_info), the baseline "
                                     "before it."),
    config: str = typer.Option("", "--config", help="guardia.yml: its slos: give the error-rate targets, "
                               "its reports: the metric names and targets."),
    end: str = typer.Option("", "--end", help="End of the window (RFC 3339 or Unix seconds); default now."),
    explore_url: str = typer.Option("", "--explore-url", help="Base URL of the guardia whose /explore "
                                     "page the HTML report links each query to (default: --url, or "
                                     "http://127.0.0.1:9090)."),
    output: str = typer.Option("", "--output", "-o",
                               help="Write the report to this file (required for pdf)."),
) -> None:
    """Exit 0 after writing the report, 1 on bad input or an unreachable data source."""
    from guardia.model import DurationError, parse_duration, parse_timestamp
    from guardia.model.timestamps import TimestampError
    from guardia.reports.build import ReportRequest, build_report
    from guardia.reports.events import DeploymentNotFound, find_deployment
    from guardia.reports.pdf import PdfError
    from guardia.reports.render import render
    from guardia.reports.settings import SettingsError, parse_settings
    from guardia.reports.source import SourceError

    if fmt not in FORMATS:
        raise _fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "pdf" and not output:
        raise _fail("--format pdf needs --output FILE.pdf")
    if url and data_dir:
        raise _fail("give --url or --data-dir, not both")
    try:
        window_ms, baseline_ms = parse_duration(window), parse_duration(baseline)
        end_ms = parse_timestamp(end) if end else int(time.time() * 1000)
    except (DurationError, TimestampError) as e:
        raise _fail(str(e)) from None
    if window_ms <= 0 or baseline_ms < 0:
        raise _fail("--window must be a positive duration and --baseline not negative")
    section, slos = _load_config(config)
    try:
        settings = parse_settings(section)
    except SettingsError as e:
        raise _fail(f"{config}: {e}") from None
    source, closer = _open_source(url, data_dir)
    try:
        deploy_ms = 0
        if since_deploy:
            lookback = max(30 * 86_400_000, baseline_ms)
            deploy_ms = find_deployment(source, since_deploy, service, end_ms, lookback)
        req = ReportRequest(window_ms, baseline_ms, end_ms, service, since_deploy, deploy_ms,
                            settings=settings, slos=slos)
        report = build_report(source, req)
        body = render(report, fmt, explore_url or url or "http://127.0.0.1:9090")
    except (SourceError, DeploymentNotFound, PdfError) as e:
        raise _fail(str(e)) from None
    finally:
        closer()
    if output:
        Path(output).write_bytes(body)
        typer.echo(f"wrote {output} ({len(body):,} bytes); score "
                   f"{report.score.value if report.score else '–'}/10", err=True)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()


def _open_source(url: str, data_dir: str) -> tuple[Any, Any]:
    from guardia.reports.source import EngineSource, HttpSource

    if data_dir:
        from guardia.promql import Engine
        from guardia.reports.heap import keep_freed_memory
        from guardia.storage.tsdb import TSDB

        if not Path(data_dir).is_dir():
            raise _fail(f"--data-dir {data_dir}: no such directory")
        keep_freed_memory()  # this process decodes a week of block pages, then exits
        db = TSDB.open(data_dir, read_only=True)
        return EngineSource(Engine(), db, f"guardia data directory {data_dir}"), db.close
    src = HttpSource(url or "http://127.0.0.1:9090")
    return src, src.close
