"""Label-name validity as Prometheus 3 (UTF-8 names) checks it.

Go-style quoting of values and label sets lives in ``guardia.model.gostrings``."""

from __future__ import annotations


def valid_label_name(name: str) -> bool:
    """Prometheus 3 (UTF-8 names): any non-empty valid UTF-8 string."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
