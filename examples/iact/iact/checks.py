"""Checks written as plain Python functions (named in guardia.yml as ``iact.checks:NAME``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def session_rows(db: str = "callcentersite/db.sqlite3") -> int:
    """Rows in Django's session table (seed 004: > 50K warning, > 100K critical)."""
    with sqlite3.connect(f"file:{HERE / db}?mode=ro", uri=True) as conn:
        return int(conn.execute("select count(*) from django_session").fetchone()[0])
