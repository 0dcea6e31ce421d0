"""One shape for every ``guardia`` subcommand, applied to the whole command tree at once.

Subcommand modules are written the short typer way (often a ``typer.Typer`` with one
``callback``), and each engineer adds their own. Left alone, typer turns such a module into a
*group*: options after the first file name are then read as file names (``guardia check rules
alerts.yml --url ...`` fails, while promtool accepts flags anywhere), its usage line ends in a
spurious ``COMMAND [ARGS]...``, and arguments show as ``{files}``. Rather than asking every
module to avoid the pattern, the root group (``GuardiaGroup``) reshapes the finished tree when
it is built:

- a group with no subcommands becomes a plain command (flags anywhere, no ``COMMAND``);
- every command accepts options between and after its arguments;
- arguments get upper-case metavars (``FILE...``, ``[DATA_DIR]``), options a value name;
- help is plain text wrapped to the terminal (at most 100 columns), never cut: rich's tables
  truncated long Prometheus-style flags such as ``--rules.alert.for-outage-tolerance``.

A module that mounts under the root gets all of this without doing anything.
"""

from __future__ import annotations

import re
from typing import Any

from typer import _click as click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

HELP_WIDTH = 100


class _Argument(TyperArgument):
    """An argument shown as click shows it (``FILE...``, ``[DATA_DIR]``), without typer's
    ``{file}`` braces and Python type names."""

    def _usage_display_name(self) -> str:
        return self.metavar or ""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return None


def _arg_metavar(arg: TyperArgument) -> str:
    name = (arg.metavar or arg.name or "arg").upper().strip("{}[].")
    if arg.nargs != 1 and name.endswith("S") and len(name) > 2:
        name = name[:-1]  # files -> FILE...
    if arg.nargs != 1:
        name += "..."
    return name if arg.required else f"[{name}]"


def _option_metavar(opt: TyperOption) -> str:
    """The value's name from the flag's last word: --storage.tsdb.path PATH, --url URL."""
    longest = max(opt.opts, key=len).lstrip("-")
    return re.split(r"[.\-]", longest)[-1].upper() or (opt.name or "value").upper()


def _shape_params(cmd: click.Command) -> None:
    for p in cmd.params:
        if isinstance(p, TyperArgument) and not isinstance(p, _Argument):
            p.metavar = _arg_metavar(p)
            p.__class__ = _Argument
        elif isinstance(p, TyperOption) and p.metavar is None and not p.is_flag and not p.count:
            p.metavar = _option_metavar(p)


def _as_command(group: TyperGroup) -> TyperCommand:
    cmd = TyperCommand(
        group.name,
        context_settings=dict(group.context_settings),
        callback=group.callback,
        params=group.params,
        help=group.help,
        epilog=group.epilog,
        short_help=group.short_help,
        options_metavar=group.options_metavar,
        add_help_option=group.add_help_option,
        no_args_is_help=group.no_args_is_help,
        hidden=group.hidden,
        deprecated=bool(group.deprecated),
        rich_markup_mode=None,
    )
    return cmd


def shape(cmd: click.Command) -> click.Command:
    """Return ``cmd`` (or its replacement) with the whole subtree in guardia's shape."""
    if isinstance(cmd, TyperGroup):
        if not cmd.commands and cmd.invoke_without_command:
            cmd = _as_command(cmd)
        else:
            for name, sub in list(cmd.commands.items()):
                cmd.commands[name] = shape(sub)
            cmd.rich_markup_mode = None
    if isinstance(cmd, TyperCommand):
        cmd.rich_markup_mode = None
        cmd.allow_interspersed_args = True
    _shape_params(cmd)
    return cmd


class GuardiaGroup(TyperGroup):
    """The root group: reshapes everything mounted under it (see the module docstring)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, sub in list(self.commands.items()):
            self.commands[name] = shape(sub)
        self.rich_markup_mode = None
        # inherited by every sub-context
        self.context_settings.setdefault("max_content_width", HELP_WIDTH)
        self.context_settings.setdefault("help_option_names", ["-h", "--help"])
        _shape_params(self)
