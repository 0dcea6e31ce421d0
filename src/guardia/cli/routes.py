"""`guardia routes`: which receivers an alert reaches, and the routing tree.

Output follows ``amtool config routes`` so runbooks written for amtool read the same.
"""

from __future__ import annotations

import typer

from guardia.alerting.route import Route
from guardia.config import ConfigError, load_yaml
from guardia.config.alertmanager import AlertmanagerConfig, parse_alertmanager_config
from guardia.model.am_matchers import format_matchers, parse_am_matchers
from guardia.model.labels import Labels
from guardia.model.matchers import MatcherError, MatchType


def load_am_config(path: str) -> AlertmanagerConfig:
    """Load an alertmanager.yml, or the one a guardia.yml/prometheus.yml embeds or points at;
    exit 1 with every positioned error on stderr."""
    try:
        src = load_yaml(path)
        if isinstance(src.data, dict) and ("route" in src.data or "receivers" in src.data):
            # Routing does not depend on secrets: placeholders do not block showing the tree
            # (``guardia check config`` and ``guardia notify test`` report them).
            return parse_alertmanager_config(src, placeholders="warning")
        from guardia.config.loader import load_config

        cfg = load_config(path)
        if cfg.alertmanager is None:
            typer.echo(f"{path}: no Alertmanager configuration found (no route/receivers, and no "
                       "alertmanager section pointing at one)", err=True)
            raise typer.Exit(1)
        return cfg.alertmanager
    except ConfigError as e:
        for issue in e.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None


app = typer.Typer(help="Test and show the Alertmanager routing tree (as `amtool config routes`).",
                  no_args_is_help=True)


def _slug(r: Route, *, show_continue: bool, show_receiver: bool) -> str:
    out = format_matchers(r.matchers) if r.matchers else "default-route"
    if r.continue_ and show_continue:
        out += "  continue: true"
    if show_receiver:
        out += f"  receiver: {r.receiver}"
    return out


def _draw(lines: list[str], nodes: list[tuple[str, list]], prefix: str) -> None:  # type: ignore[type-arg]
    for i, (text, children) in enumerate(nodes):
        last = i == len(nodes) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{text}")
        # treeprint (amtool's tree printer) pads the bar with two no-break spaces
        _draw(lines, children, prefix + ("    " if last else "│\u00a0\u00a0 "))


def _full_tree(r: Route) -> tuple[str, list]:  # type: ignore[type-arg]
    return (_slug(r, show_continue=True, show_receiver=True), [_full_tree(c) for c in r.routes])


def render_tree(root: Route) -> str:
    lines = ["Routing tree:", "."]
    _draw(lines, [_full_tree(root)], "")
    return "\n".join(lines)


def _matched_tree(root: Route, matched: list[Route]) -> tuple[str, list]:  # type: ignore[type-arg]
    wanted = {id(r) for m in matched for r in _ancestry(m)}
    leaves = {id(m) for m in matched}

    def build(r: Route) -> tuple[str, list]:  # type: ignore[type-arg]
        kids = [build(c) for c in r.routes if id(c) in wanted]
        return (_slug(r, show_continue=False, show_receiver=id(r) in leaves), kids)

    return build(root)


def _ancestry(r: Route) -> list[Route]:
    out = []
    cur: Route | None = r
    while cur is not None:
        out.append(cur)
        cur = cur.parent
    return out


def parse_label_args(args: list[str]) -> Labels:
    pairs: dict[str, str] = {}
    for a in args:
        try:
            ms = parse_am_matchers(a)
        except MatcherError as e:
            raise typer.BadParameter(f"{a!r}: {e} (write labels as name=value)") from None
        for m in ms:
            if m.type is not MatchType.EQUAL:
                raise typer.BadParameter(f"{a!r}: labels take '=' only, not {m.type.value}")
            pairs[m.name] = m.value
    return Labels(pairs)


@app.command("test")
def test(
    labels: list[str] = typer.Argument(None, help="Alert labels, e.g. severity=critical component=api"),
    config: str = typer.Option(..., "--config", "--config.file", help="alertmanager.yml (or guardia.yml)"),
    tree: bool = typer.Option(False, "--tree", help="Print the matching routes as a tree"),
    verify: str = typer.Option("", "--verify-receivers", "--verify.receivers",
                               help="Expected receivers, comma separated; exit 1 if they differ"),
) -> None:
    """Print the receivers an alert with these labels is routed to (as `amtool config routes test`).

    Examples:

    \b
      guardia routes test --config alertmanager.yml severity=critical alertname=APIDown
      guardia routes test --config alertmanager.yml --tree severity=warning team=db
      guardia routes test --config alertmanager.yml --verify-receivers slack-critical severity=critical
    """
    cfg = load_am_config(config)
    assert cfg.route is not None
    root = Route.from_config(cfg.route)
    matched = root.match(parse_label_args(labels or []))
    receivers = ",".join(r.receiver for r in matched)
    if tree:
        lines = ["Matching routes:", "."]
        _draw(lines, [_matched_tree(root, matched)], "")
        typer.echo("\n".join(lines) + "\n\n")
    typer.echo(receivers)
    if verify and verify != receivers:
        typer.echo("WARNING: Expected receivers did not match resolved receivers.", err=True)
        raise typer.Exit(1)


@app.command("show")
def show(
    config: str = typer.Option(..., "--config", "--config.file", help="alertmanager.yml (or guardia.yml)"),
) -> None:
    """Print the routing tree with matchers, continue and receivers.

    Example: guardia routes show --config alertmanager.yml
    """
    cfg = load_am_config(config)
    assert cfg.route is not None
    typer.echo(render_tree(Route.from_config(cfg.route)) + "\n")
