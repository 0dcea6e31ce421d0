"""SQL check DSNs: where the secret comes from, which driver reads it, placeholders refused.

A DSN carries a password, so it comes from the environment (``{from_env: ORDERS_DSN}``) or a
file (``{from_file: /run/secrets/orders_dsn}``); written inline it may not hold a password (a
SQLite path or a passwordless local socket is fine).  ``ChangeMe123!`` and friends are refused
before anything connects, as they are for receivers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from guardia.config.placeholders import placeholder_reason
from guardia.config.secrets import Secret

DRIVERS = {
    "postgresql": "postgresql", "postgres": "postgresql",
    "mysql": "mysql", "mariadb": "mysql",
    "sqlite": "sqlite",
}


class DSNError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class DSN:
    """A resolved DSN: the driver family and the secret text (never printed)."""

    driver: str
    secret: Secret

    def reveal(self) -> str:
        return self.secret.reveal()


def driver_of(text: str) -> str:
    has_scheme = "://" in text or text.startswith("sqlite:")
    scheme = text.split(":", 1)[0].split("+", 1)[0].lower() if has_scheme else ""
    if scheme not in DRIVERS:
        raise DSNError("the DSN must start with postgresql://, mysql:// (MariaDB too) or sqlite:///path "
                       f"(got {'scheme ' + repr(scheme) if scheme else 'no scheme'})")
    return DRIVERS[scheme]


def _password(text: str) -> str | None:
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return unquote(parts.password) if parts.password is not None else None


def resolve_dsn(literal: str | None, from_env: str | None, from_file: str | None, base_dir: str,
                environ: dict[str, str] | None = None) -> DSN:
    """The DSN the config points at; ``DSNError`` says what to fix."""
    given = [x for x in (literal, from_env, from_file) if x]
    if len(given) != 1:
        raise DSNError("give the DSN exactly one way: {from_env: VAR}, {from_file: path}, "
                       "or inline text without a password")
    env = os.environ if environ is None else environ
    if from_env:
        if from_env not in env:
            raise DSNError(f"environment variable {from_env} is not set")
        text = env[from_env].strip()
    elif from_file:
        path = Path(from_file) if os.path.isabs(from_file) else Path(base_dir) / from_file
        try:
            text = path.read_text().strip()
        except OSError as e:
            raise DSNError(f"cannot read the DSN file {path}: {e.strerror or e}") from None
    else:
        text = (literal or "").strip()
        if _password(text):
            raise DSNError("an inline DSN may not carry a password: put it in an environment variable "
                           "({from_env: VAR}) or a file ({from_file: path})")
    if placeholder_reason(text):
        # the reason quotes the value, which may hold a secret: say only what it is
        raise DSNError("the DSN is empty or a placeholder: set the real one")
    pw = _password(text)
    if pw is not None and (why := placeholder_reason(pw)):
        raise DSNError(f"the DSN's password {why.split(' (')[0]}: set the real one")
    return DSN(driver_of(text), Secret(text))
