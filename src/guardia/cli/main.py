"""Entry point: one command, subcommands by task.

Each subcommand group lives in its own module exposing a ``typer.Typer`` named ``app``;
this file only arranges them, so adding a command never means editing another's module.
"""

from __future__ import annotations

import typer

from guardia import __version__
from guardia.cli import check_config, check_rules, notify, promqltest, routes, serve, test_rules, tsdb

app = typer.Typer(
    name="guardia",
    help=(
        "Monitoring and alerting in one process: scrape Prometheus metrics, store them, answer "
        "PromQL, evaluate rules, route notifications the Alertmanager way.\n\n"
        "Start with:  guardia serve   (runs the built-in quickstart config)\n"
        "Check configs before deploying:  guardia check config prometheus.yml alertmanager.yml"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

check_app = typer.Typer(help="Validate configuration and rule files the way they will be loaded.")
check_app.add_typer(check_config.app, name="config")
check_app.add_typer(check_rules.app, name="rules")
test_app = typer.Typer(help="Run unit tests for rules (promtool's test format).")
test_app.add_typer(test_rules.app, name="rules")

app.add_typer(serve.app, name="serve")
app.add_typer(check_app, name="check")
app.add_typer(test_app, name="test")
app.add_typer(tsdb.app, name="tsdb")
app.add_typer(promqltest.app, name="promqltest")
app.add_typer(routes.app, name="routes")
app.add_typer(notify.app, name="notify")


@app.command()
def version() -> None:
    """Print guardia's version."""
    typer.echo(f"guardia {__version__}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
