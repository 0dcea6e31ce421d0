"""Recognise secrets and URLs that were never filled in.

A receiver whose webhook is ``https://hooks.slack.com/services/YOUR/WEBHOOK/URL`` looks
configured, passes every schema check and silently delivers nothing; the seeds describe
exactly that.  Such values are reported as errors, and never sent to.
"""

from __future__ import annotations

import re

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
