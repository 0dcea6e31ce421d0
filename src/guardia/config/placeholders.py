"""Recognise secrets and URLs that were never filled in.

A receiver whose webhook is ``https://hooks.slack.com/services/YOUR/WEBHOOK/URL`` looks
configured, passes every schema check and silently delivers nothing; the seeds describe
exactly that.  Such values are reported as errors, and never sent to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from guardia.config.schema import Model
from guardia.config.secrets import Secret

_EXACT = {
    "changeme", "change-me", "change_me", "changeme123", "changeme123!", "changeit",
    "password", "passw0rd", "secret", "your-smtp-app-password", "your-password", "yourpassword",
    "your_password", "your-token", "your_token", "your-api-key", "your_api_key", "xxx", "xxxx",
    "todo", "tbd", "fixme", "placeholder", "example", "replace-me", "replace_me", "insert-here",
    "dummy", "none", "null", "n/a", "<secret>",
}
_PATTERNS = [
    re.compile(r"^x{3,}$", re.I),
    re.compile(r"^\*{3,}$"),
    re.compile(r"^<[^<>]*>$"),
    re.compile(r"^\$\{[^}]*\}$"),
    re.compile(r"^\{\{.*\}\}$"),
    re.compile(r"\bYOUR[/_-]", re.I),
    re.compile(r"(^|[/_-])YOUR($|[/_-])", re.I),
    re.compile(r"\b(TODO|FIXME|CHANGEME|REPLACE[_-]?ME)\b", re.I),
    re.compile(r"^change[_-]?me", re.I),
    re.compile(r"/(XXX+|xxx+|0000+)(/|$)"),
    re.compile(r"example\.(com|org|net)", re.I),
    re.compile(r"^(https?://)?(hooks\.slack\.com/services/)?T0+/B0+/X+$", re.I),
]


def placeholder_reason(value: str | None) -> str | None:
    """Why ``value`` looks like a placeholder, or None if it looks real."""
    if value is None:
        return None
    v = value.strip()
    if v == "":
        return "is empty"
    if v.lower() in _EXACT:
        return f"is the placeholder {v!r}"
    for p in _PATTERNS:
        if p.search(v):
            return "looks like a placeholder (" + _redact_hint(v) + ")"
    return None


def _redact_hint(v: str) -> str:
    """Show URLs (they carry the telltale YOUR/WEBHOOK); hide anything else's middle."""
    if v.startswith(("http://", "https://")):
        return repr(v)
    if len(v) <= 12:
        return repr(v)
    return repr(v[:4] + "…" + v[-4:])


def secret_placeholder_reason(value: str) -> str | None:
    """Like ``placeholder_reason`` but never quotes the value: it sits in a secret field."""
    reason = placeholder_reason(value)
    if reason is None:
        return None
    if reason == "is empty":
        return reason
    return "is a placeholder, not a real secret"


FieldPath = tuple[str | int, ...]


def iter_secrets(obj: Any, base: FieldPath = ()) -> Iterator[tuple[FieldPath, Secret]]:
    """Every ``Secret`` inside a validated config model, with its YAML field path."""
    if isinstance(obj, Secret):
        yield base, obj
    elif isinstance(obj, Model):
        for name, info in type(obj).model_fields.items():
            value = getattr(obj, name)
            if value is None:
                continue
            yield from iter_secrets(value, (*base, info.alias or name))
    elif isinstance(obj, tuple | list):
        for i, item in enumerate(obj):
            yield from iter_secrets(item, (*base, i))
    elif isinstance(obj, dict):
        for k, item in obj.items():
            yield from iter_secrets(item, (*base, str(k)))


def placeholder_findings(model: Any, base: FieldPath = ()) -> list[tuple[FieldPath, str, str]]:
    """An error for every secret in ``model`` that was left as a placeholder (value never shown)."""
    out = []
    for path, secret in iter_secrets(model, base):
        field = next((p for p in reversed(path) if isinstance(p, str)), "secret")
        if "${" in secret.reveal():
            out.append((path, f"{field} contains ${{...}}, which Prometheus does not expand in this file; "
                        f"write the secret to a file and point {field}_file at it", "error"))
            continue
        reason = secret_placeholder_reason(secret.reveal())
        if reason:
            out.append((path, f"{field} {reason}; set the real value (or use {field}_file pointing at a file "
                        "that holds it)", "error"))
    return out
