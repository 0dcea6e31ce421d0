"""Who may see and change what: the web config's TLS and basic-auth users, roles, API tokens,
UI sign-in with sessions and CSRF, security headers, and the audit log of every change.

``Auth`` holds the state (built from a ``WebConfig`` and the data directory);
``AuthMiddleware`` wraps the whole web app with it; ``auth_routes`` and ``audit_page`` are the
routes it adds; ``server_context``/``TlsServer`` are the HTTPS listener.  The route → role table
is ``guardia.web.auth.routes``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardia.web.auth.audit import AuditLog, AuditQuery
    from guardia.web.auth.identity import Auth, Identity
    from guardia.web.auth.middleware import AuthMiddleware
    from guardia.web.auth.pages import audit_page, auth_routes
    from guardia.web.auth.tls import TlsServer, server_context
    from guardia.web.auth.tokens import Token, TokenError, TokenStore

_WHERE = {"AuditLog": "audit", "AuditQuery": "audit", "Auth": "identity", "Identity": "identity",
          "AuthMiddleware": "middleware", "audit_page": "pages", "auth_routes": "pages",
          "TlsServer": "tls", "server_context": "tls", "Token": "tokens", "TokenError": "tokens",
          "TokenStore": "tokens"}
__all__ = ["AuditLog", "AuditQuery", "Auth", "AuthMiddleware", "Identity", "TlsServer", "Token", "TokenError",
           "TokenStore", "audit_page", "auth_routes", "server_context"]


def __getattr__(name: str) -> Any:
    """Each name from its module on first use: the HTTPS listener (hypercorn, h2) and the
    sign-in pages load only where they are used, not in every process that checks a role."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'guardia.web.auth' has no attribute {name!r}")
    return getattr(import_module(f"guardia.web.auth.{where}"), name)
