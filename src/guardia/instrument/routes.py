"""Which route a request took, as a template: the only handler label the metrics ever carry."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from guardia.instrument.http_metrics import UNMATCHED

Scope = MutableMapping[str, Any]


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route the router matched (Starlette ≥ 0.37 leaves it in the scope).

    Mounted apps: the mount's prefix (as matched) plus the inner route's template. Nothing matched
    (404s, scanners) gives ``none``, so random paths cannot add series.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or not isinstance(path, str):
        return UNMATCHED
    prefix: str = scope.get("root_path", "")
    if prefix and prefix.startswith(root_path) and prefix != root_path:
        return prefix[len(root_path):] + path
    return path


def websocket_routes(routes: Sequence[Any], prefix: str = "") -> list[str]:
    """Templates of the WebSocket routes of a Starlette/FastAPI route list (mounts included)."""
    out = []
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        inner = getattr(route, "routes", None)
        if inner and not hasattr(route, "endpoint"):
            out += websocket_routes(inner, prefix + path)
        elif "WebSocket" in type(route).__name__:
            out.append(prefix + path)
    return out
