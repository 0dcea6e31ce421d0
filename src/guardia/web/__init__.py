"""The HTTP face of guardia: Prometheus API v1, remote write, federation, self-metrics.

Modules here speak HTTP and JSON and nothing else; they reach the rest of guardia through the
narrow protocols in ``guardia.web.protocols``, so the API can be tested on an in-memory store
and each subsystem can change without touching the handlers.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardia.web.app import AppDeps, create_app

__all__ = ["AppDeps", "create_app"]


def __getattr__(name: str) -> Any:
    """``AppDeps``/``create_app`` on first use: importing one handler module (the agent's
    few endpoints) must not load the whole API, UI and receivers."""
    if name in __all__:
        from guardia.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'guardia.web' has no attribute {name!r}")
