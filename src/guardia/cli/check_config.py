"""`guardia check config FILE...`: validate configs the way guardia will load them.

Each file's kind (prometheus.yml, alertmanager.yml, rule file, guardia.yml) is detected from
its content, every issue in every file is printed as ``file:line:col: field.path: message``,
and the exit status is 1 if any issue is an error, so the command can gate a deploy.

The command runs in pre-commit hooks and CI steps, so start-up counts: ``run`` needs neither
typer nor rich (``guardia.cli.main`` calls it directly for a plain command line), and the
typer command (``app``, for ``--help`` and everything unusual) is built only when asked for.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.kinds import Kind
from guardia.config.loader import CheckResult, check_files

HELP = (
    "Check configuration files before you deploy them.\n\n"
    "Give any mix of prometheus.yml, alertmanager.yml, rule files and guardia.yml; each file's "
    "kind is detected from its content. A prometheus.yml or guardia.yml is checked together "
    "with the rule files and the alertmanager config it references.\n\n"
    "Every problem is printed as FILE:LINE:COL: FIELD.PATH: MESSAGE. That covers unknown "
    "fields, durations and sizes in the wrong syntax, scrape timeouts longer than their "
    "interval, duplicate job names, targets written as URLs, PromQL that does not parse, "
    "receivers that are not defined, and secrets or webhook URLs left as placeholders "
    "(YOUR/WEBHOOK/URL, changeme, ...). Warnings (things Prometheus accepts but that are "
    "probably mistakes) are printed too.\n\n"
    "Exit status: 0 when there are no errors (warnings allowed), 1 otherwise.\n\n"
    "Examples:\n\n"
    "guardia check config prometheus.yml alertmanager.yml\n\n"
    "guardia check config examples/grupo-gad/*.yml\n\n"
    "guardia check config --json guardia.yml | jq .\n"
)



def _norm(issue: ConfigIssue) -> ConfigIssue:
    return ConfigIssue(os.path.normpath(issue.file), issue.line, issue.column, issue.path, issue.message,
                       issue.severity)


_PROBE_KEYS = ("probes", "probe_modules", "status_pages")


def _probe_issues(r: CheckResult) -> list[ConfigIssue]:
    """The probe sections checked as ``guardia serve`` will apply them (modules, conditions, pages)."""
    data = r.source.data if r.source is not None else None
    if not isinstance(data, dict) or not any(k in data for k in _PROBE_KEYS):
        return []
    from guardia.config.errors import ConfigError
    from guardia.probes.config import parse_probes

    try:
        parse_probes(r.source)  # type: ignore[arg-type]
    except ConfigError as e:
        return [i for i in e.issues if i not in r.issues]
    return []


def _slo_issues(r: CheckResult) -> list[ConfigIssue]:
    """A guardia.yml's ``slos:`` (and the sloth/pyrra files it names) as ``guardia serve`` reads them."""
    data = r.source.data if r.source is not None else None
    if r.kind is not Kind.GUARDIA or not isinstance(data, dict) or not data.get("slos"):
        return []
    from guardia.slo.load import load_config_slos  # only configs with SLOs pay for the import

    try:
        return list(load_config_slos(r.file)[1])
    except ConfigError as e:
        return list(e.issues)


def _logs_issues(r: CheckResult) -> list[ConfigIssue]:
    """A guardia.yml's ``logs:`` section as ``guardia serve`` reads it (jobs, stages, limits)."""
    data = r.source.data if r.source is not None else None
    if r.kind is not Kind.GUARDIA or not isinstance(data, dict) or not isinstance(data.get("logs"), dict):
        return []
    from guardia.logs.config import LogsConfigError, parse_logs_config  # only configs with logs pay

    try:
        parse_logs_config(data["logs"], Path(r.file).parent)
    except LogsConfigError as e:
        return [r.source.issue(path, msg) for path, msg in e.located()]  # type: ignore[union-attr]
    return []


def _checks_issues(r: CheckResult) -> list[ConfigIssue]:
    """A guardia.yml's ``checks:`` as ``guardia serve`` reads them (kinds, thresholds, DSNs)."""
    data = r.source.data if r.source is not None else None
    if r.kind is not Kind.GUARDIA or not isinstance(data, dict) or not data.get("checks"):
        return []
    from guardia.checks.config import parse_checks  # only configs with checks pay for the import

    try:
        parse_checks(r.source)  # type: ignore[arg-type]
    except ConfigError as e:
        return [i for i in e.issues if i not in r.issues]
    return []


def collect(files: list[Path]) -> tuple[list[CheckResult], list[ConfigIssue]]:
    """Check every file; issues deduplicated (a rule file named on the command line and also
    referenced from prometheus.yml is reported once), in file then position order."""
    results = check_files(files)
    seen: set[ConfigIssue] = set()
    ordered: list[ConfigIssue] = []
    for r in results:
        found = (*r.issues, *_probe_issues(r), *_slo_issues(r), *_logs_issues(r),
                 *_checks_issues(r))
        for issue in sorted((_norm(i) for i in found),
                            key=lambda i: (i.file != os.path.normpath(r.file), i.file, i.line or 0,
                                           i.column or 0)):
            if issue not in seen:
                seen.add(issue)
                ordered.append(issue)
    return results, ordered


# ANSI styles, as rich showed them before: only on a terminal, and never with NO_COLOR set.
_STYLES = {"bold": "1", "bold red": "1;31", "bold yellow": "1;33", "bold green": "1;32", "cyan": "36"}


def _use_color(out: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def _styled(parts: list[tuple[str, str | None]], color: bool) -> str:
    if not color:
        return "".join(text for text, _ in parts)
    return "".join(f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if style else text for text, style in parts)


def _render(issue: ConfigIssue) -> list[tuple[str, str | None]]:
    parts: list[tuple[str, str | None]] = [(issue.location() + ": ", "bold")]
    if issue.severity == "error":
        parts.append(("error: ", "bold red"))
    else:
        parts.append(("warning: ", "bold yellow"))
    if issue.path:
        parts.append((issue.path + ": ", "cyan"))
    parts.append((issue.message, None))
    return parts


def run(files: list[Path], *, warnings: bool = True, as_json: bool = False, out: TextIO | None = None) -> int:
    """Check ``files``, print every issue (or a JSON list), return the exit status (1 on errors)."""
    stream = out if out is not None else sys.stdout
    results, issues = collect(files)
    errors = sum(1 for i in issues if i.severity == "error")
    warns = len(issues) - errors
    if as_json:
        shown = [i for i in issues if warnings or i.severity == "error"]
        stream.write(json.dumps([
            {"file": i.file, "line": i.line, "column": i.column, "path": i.path, "message": i.message,
             "severity": i.severity} for i in shown
        ], indent=2) + "\n")
        return 1 if errors else 0
    color = _use_color(stream)
    lines = [_styled(_render(i), color) for i in issues if warnings or i.severity == "error"]
    kinds = ", ".join(f"{os.path.normpath(r.file)} ({r.kind.value})" for r in results)
    if errors:
        head = (f"FAILED: {errors} error{'s' if errors != 1 else ''}", "bold red")
    else:
        head = ("OK", "bold green")
    lines.append(_styled([head, (f", {warns} warning{'s' if warns != 1 else ''} in {len(results)} "
                                 f"file{'s' if len(results) != 1 else ''}: {kinds}", None)], color))
    stream.write("\n".join(lines) + "\n")
    stream.flush()
    return 1 if errors else 0


def _build_app() -> Any:
    import typer

    app = typer.Typer(help=HELP, no_args_is_help=True, subcommand_metavar="")

    @app.callback(invoke_without_command=True)
    def main(
        files: list[Path] = typer.Argument(..., help="Config files to check (any kind, any number).",
                                           show_default=False, metavar="FILE"),
        warnings: bool = typer.Option(True, "--warnings/--no-warnings", help="Also print warnings."),
        as_json: bool = typer.Option(False, "--json", help="Print the issues as a JSON list instead."),
    ) -> None:
        raise typer.Exit(code=run(files, warnings=warnings, as_json=as_json))

    return app


def __getattr__(name: str) -> Any:
    # ``app`` (the typer command) is built on first access: importing typer costs more than
    # checking a few files, and the plain command line does not need it.
    if name == "app":
        app = _build_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
