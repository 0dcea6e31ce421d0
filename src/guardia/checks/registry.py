"""``@guardia.checks.check(...)``: checks written as decorated functions in the app's own code.

The decorator only records the function and its settings on the module's list; nothing runs
at import.  A ``python: {module: pkg.mod}`` entry imports the module and turns every recorded
function into a check, settings from the decorator over those of the config entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY_ATTR = "__guardia_checks__"


@dataclass(frozen=True, slots=True)
class Registered:
    """A decorated function and what the decorator said (config-file spellings: ``"1h"``)."""

    module: str
    function: str
    settings: dict[str, Any] = field(default_factory=dict)


def check(name: str = "", *, interval: str | None = None, timeout: str | None = None,
          labels: dict[str, str] | None = None, warning: str | None = None,
          critical: str | None = None, for_: str | None = None,
          description: str = "") -> Callable[[F], F]:
    """Register the decorated function as a check of its module (``name`` defaults to the
    function's name); the arguments are the config fields of the same names (``for_`` is
    ``for``)."""

    def wrap(fn: F) -> F:
        import sys

        settings: dict[str, Any] = {"name": name or fn.__name__}
        for key, value in (("interval", interval), ("timeout", timeout), ("labels", labels),
                           ("warning", warning), ("critical", critical), ("for", for_),
                           ("description", description)):
            if value:
                settings[key] = value
        mod = sys.modules.get(fn.__module__)
        target = mod if mod is not None else fn
        registered: list[Registered] = getattr(target, _REGISTRY_ATTR, None) or []
        registered = [r for r in registered if r.settings["name"] != settings["name"]]
        registered.append(Registered(fn.__module__, fn.__qualname__, settings))
        setattr(target, _REGISTRY_ATTR, registered)
        return fn

    return wrap


def registered_in(module: Any) -> list[Registered]:
    """The checks ``module`` registered with ``@check``, in definition order."""
    return list(getattr(module, _REGISTRY_ATTR, None) or [])
