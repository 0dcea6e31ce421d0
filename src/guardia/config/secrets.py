"""Secrets: values that must work when used and never show when printed.

``Secret`` wraps a string so that logs, ``repr``, error messages and the status API can
only ever show ``<secret>`` (Prometheus's spelling); the real value is read with
``reveal()`` at the one place that sends it.  ``*_file`` variants and ``${VAR}`` expansion
are resolved by ``resolve_secret``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from guardia.config.scalars import scalar_text

REDACTED = "<secret>"
# ${VAR}, or ${VAR:-default} (the shell's form) for a value that works until the variable is set
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SecretResolutionError(ValueError):
    """A ``*_file`` that cannot be read or a ``${VAR}`` that is not set."""


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    # How the config schema reads a secret from YAML and dumps one (never the value); a YAML
    # ``0123`` reaches ``__config_validate__`` as the text "0123", not the number 83.
    __config_text__ = True

    @classmethod
    def __config_validate__(cls, value: Any) -> Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str | int | float):
            return cls(scalar_text(value) or "")
        raise ValueError("must be a string")

    def __config_dump__(self) -> str:
        return REDACTED


def expand_env(value: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` with the variable's value; an unset variable is an error unless the
    reference gives a default, ``${VAR:-default}`` (used when VAR is unset or empty, as in sh)."""
    env = os.environ if environ is None else environ

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if default is not None:
            return env.get(name) or default
        if name not in env:
            raise SecretResolutionError(f"environment variable {name} is not set")
        return env[name]

    return _ENV_RE.sub(sub, value)


def read_secret_file(path: str, base_dir: str | Path | None = None) -> Secret:
    """Read a ``*_file`` secret (relative paths are relative to the config file's directory)."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    try:
        return Secret(p.read_text(encoding="utf-8").strip())
    except OSError as e:
        raise SecretResolutionError(f"cannot read secret file {str(p)!r}: {e.strerror}") from None
