"""Entry point: one command, subcommands by task.

Each subcommand group lives in its own module exposing a ``typer.Typer`` named ``app``;
this file only arranges them, so adding a command never means editing another's module.

Modules are imported only for the subcommand being run: ``guardia check config`` should
not pay for importing the HTTP server, the store and the query engine (it is meant to run
in a pre-commit hook or CI step in well under a second).  A plain ``guardia check config
FILE...`` does not even build the typer app (typer, click, rich and pydantic take longer to
import than the check takes); anything else, ``--help`` included, goes through typer.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardia import __version__

if TYPE_CHECKING:
    import typer

_HELP = (
    "Monitoring and alerting in one process: scrape Prometheus metrics, store them, answer "
    "PromQL, evaluate rules, route notifications the Alertmanager way.\n\n"
    "Start with:  guardia serve   (runs the built-in quickstart config)\n\n"
    "Check configs before deploying:  guardia check config prometheus.yml alertmanager.yml"
)

# top-level command -> (help for a group of subcommands or None, [(subcommand, module)]);
# a module is "package.module" (its ``app``) or "package.module:attribute" (another typer app).
_COMMANDS: dict[str, tuple[str | None, list[tuple[str, str]]]] = {
    "serve": (None, [("serve", "guardia.cli.serve")]),
    "check": (
        "Validate configuration and rule files the way they will be loaded.",
        [("config", "guardia.cli.check_config"), ("rules", "guardia.cli.check_rules"),
         ("metrics", "guardia.cli.check_metrics"), ("healthy", "guardia.cli.check_server:healthy_app"),
         ("ready", "guardia.cli.check_server:ready_app"), ("web-config", "guardia.cli.check_web_config")],
    ),
    "test": (
        "Run unit tests for rules (promtool's test format).",
        [("rules", "guardia.cli.test_rules")],
    ),
    "tsdb": (None, [("tsdb", "guardia.cli.tsdb")]),
    "promqltest": (None, [("promqltest", "guardia.cli.promqltest")]),
    "routes": (None, [("routes", "guardia.cli.routes")]),
    "notify": (None, [("notify", "guardia.cli.notify")]),
    "query": (None, [("query", "guardia.cli.query")]),
    "alert": (None, [("alert", "guardia.cli.alert")]),
    "silence": (None, [("silence", "guardia.cli.silence")]),
    "ack": (None, [("ack", "guardia.cli.ack")]),
    "slo": (
        "Service level objectives: generate their rules, replay history.",
        [("generate", "guardia.cli.slo_generate"), ("backtest", "guardia.cli.slo_backtest")],
    ),
    "audit": (None, [("audit", "guardia.cli.audit")]),
    "readiness": (None, [("readiness", "guardia.cli.readiness")]),
    "token": (
        "API tokens for automation (one role each; hashed at rest, shown once).",
        [("create", "guardia.cli.token:create_app"), ("list", "guardia.cli.token:list_app"),
         ("revoke", "guardia.cli.token:revoke_app")],
    ),
    "init": (
        "Start monitoring something: instrument an app and write its scrape job, rules and dashboard.",
        [("app", "guardia.cli.init_app")],
    ),
    "report": (
        "Operations reports from stored data, every figure with its PromQL.",
        [("ops", "guardia.cli.report")],
    ),
    "dashboards": (
        "Manage dashboards (Grafana's JSON model) on a running guardia.",
        [("import", "guardia.cli.dashboards")],
    ),
}


def _typer_app(spec: str) -> typer.Typer:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "app")  # type: ignore[no-any-return]


def build_app(only: str | None = None, only_sub: str | None = None) -> typer.Typer:
    """The command tree; with ``only`` (and ``only_sub``), just that command (faster start-up)."""
    import typer

    from guardia.cli.shape import GuardiaGroup

    root = typer.Typer(
        name="guardia",
        cls=GuardiaGroup,
        help=_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def show_version(value: bool) -> None:
        if value:
            typer.echo(f"guardia {__version__}")
            raise typer.Exit()

    @root.callback()
    def _root(
        version: bool = typer.Option(False, "--version", "-v", is_eager=True, callback=show_version,
                                     help="Print guardia's version and exit."),
    ) -> None:
        pass

    for name, (group_help, subs) in _COMMANDS.items():
        if only is not None and name != only:
            continue
        if group_help is None:
            (_, module), = subs
            root.add_typer(_typer_app(module), name=name)
            continue
        group = typer.Typer(help=group_help, no_args_is_help=True)
        for sub, module in subs:
            if only_sub is not None and sub != only_sub:
                continue
            group.add_typer(_typer_app(module), name=sub)
        root.add_typer(group, name=name)

    @root.command()
    def version() -> None:
        """Print guardia's version."""
        typer.echo(f"guardia {__version__}")

    return root


def __getattr__(name: str) -> Any:
    if name == "app":
        return build_app()
    raise AttributeError(name)


_CHECK_CONFIG_FLAGS = {"--json": ("as_json", True), "--warnings": ("warnings", True),
                       "--no-warnings": ("warnings", False)}


def fast_check_config(args: list[str]) -> int | None:
    """Run ``guardia check config ARGS`` without typer, or None when typer should handle it.

    Only the command lines typer would read the same way are taken: file names and the
    command's own flags (``--`` ends the flags); help, unknown options and no files at all
    are left to typer, so its usage messages and help stay the only ones.
    """
    opts = {"as_json": False, "warnings": True}
    files: list[Path] = []
    only_files = False
    for a in args:
        if not only_files and a == "--":
            only_files = True
        elif not only_files and a.startswith("-") and a != "-":
            if a not in _CHECK_CONFIG_FLAGS:
                return None
            key, value = _CHECK_CONFIG_FLAGS[a]
            opts[key] = value
        else:
            files.append(Path(a))
    if not files:
        return None
    from guardia.cli.check_config import run

    return run(files, warnings=opts["warnings"], as_json=opts["as_json"])


def main() -> None:
    if sys.argv[1:3] == ["check", "config"]:
        code = fast_check_config(sys.argv[3:])
        if code is not None:
            sys.exit(code)
    if sys.argv[1:2] == ["serve"]:
        from guardia.cli.serve_run import fast_serve

        code = fast_serve(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    words = [a for a in sys.argv[1:] if not a.startswith("-")][:2]
    first = words[0] if words and words[0] in _COMMANDS else None
    second = None
    if first is not None and len(words) > 1 and any(words[1] == s for s, _ in _COMMANDS[first][1]):
        second = words[1]
    build_app(first, second)()


if __name__ == "__main__":
    main()
