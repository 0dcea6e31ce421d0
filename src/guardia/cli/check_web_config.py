"""`guardia check web-config FILE...`: the web config (TLS, basic auth), as promtool checks it."""

from __future__ import annotations

import typer

from guardia.config.webconfig import check_web_config

app = typer.Typer(
    help="Check web configuration files (tls_server_config, http_server_config, basic_auth_users), "
         "as `promtool check web-config`: prints FILE SUCCESS or FILE FAILED with every problem; "
         "exit 1 if any file fails.\n\n"
         "Example: guardia check web-config web.yml",
    no_args_is_help=True,
)


@app.callback(invoke_without_command=True)
def main(files: list[str] = typer.Argument(..., help="Web config files.")) -> None:
    failed = False
    for f in files:
        issues = check_web_config(f)
        if not issues:
            typer.echo(f"{f} SUCCESS", err=True)  # promtool prints both verdicts on stderr
            continue
        failed = True
        typer.echo(f"{f} FAILED: " + "\n  ".join(str(i) for i in issues), err=True)
    raise typer.Exit(1 if failed else 0)
