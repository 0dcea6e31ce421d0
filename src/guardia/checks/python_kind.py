"""Python checks: import ``module:function`` and call it with the configured arguments.

Imports happen when the config is applied (an import error is a reload error naming the check),
calls happen in the runner's worker threads.  The config file's folder and any ``path:``
folders are put on ``sys.path`` first, so a team's ``checks.py`` beside its guardia.yml works.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from guardia.checks.config import Check, CheckSpec, PythonSpec, build_check
from guardia.checks.registry import registered_in


class CheckImportError(ValueError):
    pass


def _add_paths(spec: PythonSpec, base_dir: str) -> None:
    for p in (base_dir, *(p if os.path.isabs(p) else os.path.join(base_dir, p) for p in spec.path)):
        if p not in sys.path:
            sys.path.insert(0, p)


def import_module(name: str, spec: PythonSpec, base_dir: str, reload: bool = False) -> Any:
    _add_paths(spec, base_dir)
    try:
        mod = importlib.import_module(name)
        return importlib.reload(mod) if reload else mod
    except Exception as e:  # any error in the user's module is theirs to fix, with its name
        raise CheckImportError(f"cannot import {name!r}: {type(e).__name__}: {e}") from None


def resolve_function(check: Check, reload: bool = False) -> Callable[[], Any]:
    """A no-argument callable running the check's function with its configured arguments."""
    spec = check.target
    assert isinstance(spec, PythonSpec)
    mod_name, _, fn_name = spec.function.partition(":")
    mod = import_module(mod_name, spec, check.base_dir, reload)
    fn = mod
    for part in fn_name.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise CheckImportError(f"module {mod_name!r} has no function {fn_name!r}")
    if not callable(fn):
        raise CheckImportError(f"{spec.function!r} is not a function")
    args, kwargs = tuple(spec.args), dict(spec.kwargs)
    return lambda: fn(*args, **kwargs)


def expand_module(entry: CheckSpec, base_dir: str, reload: bool = False) -> list[Check]:
    """The checks a ``python: {module: ...}`` entry stands for: one per ``@check`` function,
    the decorator's settings over the entry's (interval, timeout, labels, thresholds)."""
    spec = entry.python
    assert spec is not None
    mod = import_module(spec.module, spec, base_dir, reload)
    found = registered_in(mod)
    if not found:
        raise CheckImportError(f"module {spec.module!r} registers no check: decorate functions with "
                               "@guardia.checks.check(interval=\"1h\")")
    out = []
    for r in found:
        raw: dict[str, Any] = {"interval": _ms(entry.interval), "timeout": _ms(entry.timeout),
                               "labels": dict(entry.labels), **r.settings}
        if entry.warning is not None and "warning" not in raw:
            raw["warning"] = entry.warning
        if entry.critical is not None and "critical" not in raw:
            raw["critical"] = entry.critical
        if entry.for_ and "for" not in raw:
            raw["for"] = _ms(entry.for_)
        raw["python"] = {"function": f"{r.module}:{r.function}", "path": list(spec.path)}
        try:
            cs = CheckSpec.model_validate(raw)
            out.append(build_check(cs, base_dir))
        except Exception as e:
            raise CheckImportError(f"@check {r.settings['name']!r} in {spec.module}: {e}") from None
    return out


def _ms(ms: int) -> str:
    return f"{ms}ms"
