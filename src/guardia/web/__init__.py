"""The HTTP face of guardia: Prometheus API v1, remote write, federation, self-metrics.

Modules here speak HTTP and JSON and nothing else; they reach the rest of guardia through the
narrow protocols in ``guardia.web.protocols``, so the API can be tested on an in-memory store
and each subsystem can change without touching the handlers.
"""


from guardia.web.app import AppDeps, create_app

__all__ = ["AppDeps", "create_app"]
