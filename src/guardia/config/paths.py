"""File paths named inside a config file, made relative to that file's directory.

Prometheus and Alertmanager both join relative paths in an HTTP client block (TLS files,
``credentials_file``, ``password_file``, ``bearer_token_file``, oauth2's) with the directory
of the file that names them; reading them relative to the process's working directory
instead works in a shell and breaks under a service manager.  One walker serves
prometheus.yml, alertmanager.yml and the alertmanager section of guardia.yml, so the rule
cannot drift between them.  Each path is checked now: a missing or unreadable file is a
positioned error at load, not a failed request at 3 a.m.  Paths become absolute, since they
are read again at each request and the working directory may change in between.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.config.httpclient import FILE_FIELDS, Finding
from guardia.config.placeholders import secret_placeholder_reason
from guardia.config.schema import Model

SECRET_FILE_FIELDS = frozenset({
    "password_file", "username_file", "credentials_file", "bearer_token_file", "client_secret_file",
})
"""File fields whose content is a secret: also read now, to catch placeholders and bad text."""


def join(base_dir: str | Path, p: str) -> str:
    """``p`` relative to ``base_dir`` (absolute paths are kept), normalised."""
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, p))


def config_dir(file: str) -> str:
    """The absolute directory relative paths in ``file`` are resolved against."""
    return os.path.dirname(os.path.abspath(file)) if file else os.getcwd()


def rebase_files(obj: Any, base_dir: str | Path, path: FieldPath = (),
                 findings: list[Finding] | None = None) -> tuple[Any, list[Finding]]:
    """Copy of model ``obj`` with every HTTP client file path resolved and checked.

    Returns the (possibly unchanged) object and the problems found, each as
    ``(field path, message, severity)`` for the caller to position in its source.
    """
    out: list[Finding] = [] if findings is None else findings
    return _rebase(obj, os.path.abspath(base_dir), path, out), out


def _rebase(obj: Any, base_dir: str, path: FieldPath, findings: list[Finding]) -> Any:
    if isinstance(obj, tuple | list):
        items = [_rebase(v, base_dir, (*path, i), findings) for i, v in enumerate(obj)]
        if all(a is b for a, b in zip(items, obj, strict=True)):
            return obj
        return tuple(items) if isinstance(obj, tuple) else items
    if not isinstance(obj, Model):
        return obj
    upd: dict[str, Any] = {}
    for name, info in type(obj).model_fields.items():
        value = getattr(obj, name)
        key = info.alias or name
        if name in FILE_FIELDS and isinstance(value, str) and value:
            resolved = join(base_dir, value)
            upd[name] = resolved
            findings.extend(check_file(resolved, name, (*path, key)))
        elif name in getattr(obj, "relative_path_lists", ()):
            # Patterns (file_sd ``files``): joined, not checked; a glob may match nothing yet.
            upd[name] = tuple(join(base_dir, f) for f in value)
        elif isinstance(value, Model | tuple | list):
            new = _rebase(value, base_dir, (*path, key), findings)
            if new is not value:
                upd[name] = new
    return obj.model_copy(update=upd) if upd else obj


def check_file(p: str, name: str, path: FieldPath) -> list[Finding]:
    """Problems with the file ``p`` named by field ``name``: missing, unreadable, placeholder."""
    if not os.path.isfile(p):
        return [(path, f"{name} {p!r} does not exist or is not a file", "error")]
    if not os.access(p, os.R_OK):
        return [(path, f"{name} {p!r} is not readable by this user; fix its permissions", "error")]
    if name in SECRET_FILE_FIELDS:
        try:
            content = Path(p).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            return [(path, f"cannot read {name} {p!r}: {e}", "error")]
        reason = secret_placeholder_reason(content)
        if reason:
            return [(path, f"the secret in {name} {p!r} {reason}; write the real value to the file", "error")]
    return []
