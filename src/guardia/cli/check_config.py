"""`guardia check config FILE...`: validate configs the way guardia will load them.

Each file's kind (prometheus.yml, alertmanager.yml, rule file, guardia.yml) is detected from
its content, every issue in every file is printed as ``file:line:col: field.path: message``,
and the exit status is 1 if any issue is an error, so the command can gate a deploy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from guardia.config.errors import ConfigIssue
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

app = typer.Typer(help=HELP, no_args_is_help=True, subcommand_metavar="")


def _norm(issue: ConfigIssue) -> ConfigIssue:
    return ConfigIssue(os.path.normpath(issue.file), issue.line, issue.column, issue.path, issue.message,
                       issue.severity)


def collect(files: list[Path]) -> tuple[list[CheckResult], list[ConfigIssue]]:
    """Check every file; issues deduplicated (a rule file named on the command line and also
    referenced from prometheus.yml is reported once), in file then position order."""
    results = check_files(files)
    seen: set[ConfigIssue] = set()
    ordered: list[ConfigIssue] = []
    for r in results:
        for issue in sorted((_norm(i) for i in r.issues),
                            key=lambda i: (i.file != os.path.normpath(r.file), i.file, i.line or 0,
                                           i.column or 0)):
            if issue not in seen:
                seen.add(issue)
                ordered.append(issue)
    return results, ordered


def _render(issue: ConfigIssue) -> Text:
    t = Text()
    t.append(issue.location() + ": ", style="bold")
    if issue.severity == "error":
        t.append("error: ", style="bold red")
    else:
        t.append("warning: ", style="bold yellow")
    if issue.path:
        t.append(issue.path + ": ", style="cyan")
    t.append(issue.message)
    return t


@app.callback(invoke_without_command=True)
def main(
    files: list[Path] = typer.Argument(..., help="Config files to check (any kind, any number).",
                                       show_default=False, metavar="FILE"),
    warnings: bool = typer.Option(True, "--warnings/--no-warnings", help="Also print warnings."),
    as_json: bool = typer.Option(False, "--json", help="Print the issues as a JSON list instead."),
) -> None:
    results, issues = collect(files)
    errors = sum(1 for i in issues if i.severity == "error")
    warns = len(issues) - errors
    if as_json:
        shown = [i for i in issues if warnings or i.severity == "error"]
        typer.echo(json.dumps([
            {"file": i.file, "line": i.line, "column": i.column, "path": i.path, "message": i.message,
             "severity": i.severity} for i in shown
        ], indent=2))
        raise typer.Exit(code=1 if errors else 0)
    out = Console(highlight=False, soft_wrap=True)
    for issue in issues:
        if warnings or issue.severity == "error":
            out.print(_render(issue))
    kinds = ", ".join(f"{os.path.normpath(r.file)} ({r.kind.value})" for r in results)
    summary = Text()
    if errors:
        summary.append(f"FAILED: {errors} error{'s' if errors != 1 else ''}", style="bold red")
    else:
        summary.append("OK", style="bold green")
    summary.append(f", {warns} warning{'s' if warns != 1 else ''} in {len(results)} "
                   f"file{'s' if len(results) != 1 else ''}: {kinds}")
    out.print(summary)
    raise typer.Exit(code=1 if errors else 0)
