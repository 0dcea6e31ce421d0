"""`guardia serve`: run scraping, storage, PromQL and the Prometheus HTTP API in one process.

Flags use Prometheus's spelling so an existing systemd unit or container command line needs
few changes.  Without --config the built-in quickstart runs: guardia scrapes itself and a
demo shop it serves on a second local port.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import typer
from rich.console import Console

from guardia.config.errors import ConfigError
from guardia.model import DurationError, parse_duration
from guardia.server import GuardiaProcess, ServeOptions, split_host_port
from guardia.storage.agent import AgentLockedError

app = typer.Typer(
    help=(
        "Run guardia: scrape targets, store samples, answer PromQL, serve the Prometheus API.\n\n"
        "Without --config it runs the built-in quickstart (scrapes itself and a demo shop).\n\n"
        "Examples:\n\n"
        "  guardia serve\n\n"
        "  guardia serve --config prometheus.yml --storage.tsdb.retention.time 30d\n\n"
        "Reload the config with SIGHUP or `curl -X POST http://127.0.0.1:9090/-/reload`; a broken "
        "config is refused and the running one stays."
    ),
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_SIZE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}


def parse_size(text: str) -> int:
    """Prometheus byte sizes: ``512MB``, ``10GB`` (powers of 1024), or ``0`` for no limit."""
    s = text.strip().upper()
    if s in ("", "0"):
        return 0
    for unit in sorted(_SIZE_UNITS, key=len, reverse=True):
        if s.endswith(unit) and s[: -len(unit)].strip().isdigit():
            return int(s[: -len(unit)]) * _SIZE_UNITS[unit]
    raise typer.BadParameter(f"{text!r} is not a size; use e.g. 512MB, 10GB (units B KB MB GB TB PB)")


def _duration(text: str, flag: str) -> int:
    try:
        return parse_duration(text)
    except DurationError as e:
        raise typer.BadParameter(f"{flag}: {e}") from None


@app.callback(invoke_without_command=True)
def serve(
    config: str | None = typer.Option(
        None, "--config", "--config.file", help="prometheus.yml or guardia.yml to run (default: quickstart)."
    ),
    listen: str = typer.Option(
        "127.0.0.1:9090", "--web.listen-address", help="host:port for the UI and API (0.0.0.0:9090 for all)."
    ),
    storage_path: str = typer.Option("data", "--storage.tsdb.path", help="Directory for samples and WAL."),
    retention_time: str = typer.Option(
        "15d", "--storage.tsdb.retention.time", help="Delete data older than this (e.g. 15d, 26w)."
    ),
    retention_size: str = typer.Option(
        "0",
        "--storage.tsdb.retention.size",
        help="Delete oldest blocks while blocks plus the WAL (the head on disk) pass this size "
        "(e.g. 10GB; 0 = off).",
    ),
    wal_keep_size: str = typer.Option(
        "2GB",
        "--storage.remote.wal-keep-size",
        help="WAL kept past a checkpoint for remote_write queues still sending it (0 = none).",
    ),
    lookback_delta: str = typer.Option(
        "5m", "--query.lookback-delta", help="How far back a query looks for the latest sample."
    ),
    query_timeout: str = typer.Option("2m", "--query.timeout", help="Longest a query may run."),
    query_max_samples: int = typer.Option(
        50_000_000, "--query.max-samples", help="Most samples one query may load into memory."
    ),
    external_url: str = typer.Option(
        "", "--web.external-url", help="URL guardia is reachable at (its path becomes the route prefix)."
    ),
    outage_tolerance: str = typer.Option(
        "1h",
        "--rules.alert.for-outage-tolerance",
        help="Max downtime for which alert 'for' state is restored.",
    ),
    grace_period: str = typer.Option(
        "10m", "--rules.alert.for-grace-period", help="Min time left of 'for' after a restart."
    ),
    enable_admin_api: bool = typer.Option(
        False, "--web.enable-admin-api", help="Enable /api/v1/admin (TSDB snapshots)."
    ),
    web_config_file: str | None = typer.Option(
        None, "--web.config.file",
        help="Prometheus web config (TLS, basic_auth_users) plus guardia's roles: see docs/auth.md.",
    ),
    log_level: str = typer.Option("info", "--log.level", help="debug, info, warn or error."),
    agent: bool = typer.Option(
        False, "--agent", help="Agent mode: scrape and probe only to forward to remote_write "
        "(a WAL; no blocks, rules or queries)."
    ),
    agent_path: str = typer.Option(
        "data-agent", "--storage.agent.path", help="Directory for the agent's WAL (with --agent)."
    ),
) -> None:
    """Run guardia (see the examples above)."""
    level = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
    if log_level not in level:
        raise typer.BadParameter("--log.level must be one of debug, info, warn, error")
    logging.basicConfig(
        level=level[log_level],
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scrape is noise
    try:
        split_host_port(listen)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    flags = {
        "config.file": config or "",
        "web.listen-address": listen,
        "storage.tsdb.path": storage_path,
        "storage.tsdb.retention.time": retention_time,
        "storage.tsdb.retention.size": retention_size,
        "storage.remote.wal-keep-size": wal_keep_size,
        "query.lookback-delta": lookback_delta,
        "query.timeout": query_timeout,
        "query.max-samples": str(query_max_samples),
        "web.external-url": external_url,
        "rules.alert.for-outage-tolerance": outage_tolerance,
        "rules.alert.for-grace-period": grace_period,
        "web.enable-admin-api": str(enable_admin_api).lower(),
        "web.config.file": web_config_file or "",
        "log.level": log_level,
        "agent": str(agent).lower(),
        "storage.agent.path": agent_path,
    }
    opts = ServeOptions(
        config_file=config,
        listen_address=listen,
        storage_path=storage_path,
        retention_time_ms=_duration(retention_time, "--storage.tsdb.retention.time"),
        retention_size=parse_size(retention_size),
        wal_keep_for_remote_bytes=parse_size(wal_keep_size),
        lookback_delta_ms=_duration(lookback_delta, "--query.lookback-delta"),
        query_timeout_ms=_duration(query_timeout, "--query.timeout"),
        query_max_samples=query_max_samples,
        external_url=external_url,
        for_outage_tolerance_ms=_duration(outage_tolerance, "--rules.alert.for-outage-tolerance"),
        for_grace_period_ms=_duration(grace_period, "--rules.alert.for-grace-period"),
        enable_admin_api=enable_admin_api,
        agent=agent,
        agent_storage_path=agent_path,
        web_config_file=web_config_file,
        flags=flags,
    )
    # Errors are printed whole, one line each: never wrapped at 80 columns into a log file
    # (soft_wrap), coloured only on a terminal (rich's own detection), markup in them not parsed.
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    locked: tuple[type[Exception], ...] = ()
    if not agent:  # the agent never loads the store (nor its error types)
        from guardia.storage.tsdb.db import StorageLockedError

        locked = (StorageLockedError,)
    try:
        asyncio.run(GuardiaProcess(opts).run())
    except ConfigError as e:
        err.print("[red]guardia serve: the configuration does not load[/]")
        err.print(str(e), markup=False)
        raise typer.Exit(code=1) from None
    except locked as e:
        err.print(f"guardia serve: {e} with --storage.tsdb.path", style="red", markup=False)
        raise typer.Exit(code=1) from None
    except AgentLockedError as e:
        err.print(f"guardia serve: {e} (--storage.agent.path)", style="red", markup=False)
        raise typer.Exit(code=1) from None
    except OSError as e:
        err.print(f"guardia serve: {e} (is another process using {listen}?)", style="red", markup=False)
        raise typer.Exit(code=1) from None
