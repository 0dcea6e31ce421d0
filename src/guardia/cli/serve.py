"""`guardia serve`: run scraping, storage, PromQL and the Prometheus HTTP API in one process.

Flags use Prometheus's spelling so an existing systemd unit or container command line needs
few changes.  Without --config the built-in quickstart runs: guardia scrapes itself and a
demo shop it serves on a second local port.

The flags are declared once, in ``guardia.cli.serve_run.FLAGS``; a plain ``guardia serve``
command line is read there without typer (see that module), so this command runs for
``--help`` and for lines that need typer's error messages.
"""

from __future__ import annotations

from typing import Any

import typer

from guardia.cli.serve_run import FLAG, FlagError, options, run, skip_httpx_cli

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


def _flag(param: str) -> Any:
    """The typer option for one of ``serve_run.FLAGS`` (one table for both ways in)."""
    f = FLAG[param]
    return typer.Option(f.default, *f.names, help=f.help)


@app.callback(invoke_without_command=True)
def serve(
    config: str | None = _flag("config"),
    listen: str = _flag("listen"),
    storage_path: str = _flag("storage_path"),
    retention_time: str = _flag("retention_time"),
    retention_size: str = _flag("retention_size"),
    wal_keep_size: str = _flag("wal_keep_size"),
    lookback_delta: str = _flag("lookback_delta"),
    query_timeout: str = _flag("query_timeout"),
    query_max_samples: int = _flag("query_max_samples"),
    external_url: str = _flag("external_url"),
    outage_tolerance: str = _flag("outage_tolerance"),
    grace_period: str = _flag("grace_period"),
    enable_admin_api: bool = _flag("enable_admin_api"),
    web_config_file: str | None = _flag("web_config_file"),
    log_level: str = _flag("log_level"),
    agent: bool = _flag("agent"),
    agent_path: str = _flag("agent_path"),
    enable_feature: str = _flag("enable_feature"),
) -> None:
    """Run guardia (see the examples above)."""
    values = dict(locals())
    skip_httpx_cli()
    try:
        opts = options(values)
    except FlagError as e:
        raise typer.BadParameter(str(e)) from None
    code = run(opts, log_level)
    if code:
        raise typer.Exit(code=code)
