"""prometheus_client's package without its ``__init__``'s imports, for ``guardia serve --agent``.

``import prometheus_client`` (which any ``from prometheus_client.x import y`` runs first) imports
``prometheus_client.exposition``, and with it ``http.server``, ``urllib.request``, ``wsgiref``,
``email`` and ``certifi``: about 3 MiB resident in each agent, whose metrics need only the
registry, the metric classes and the process collectors (its ``/metrics`` body is written by
:mod:`guardia.web.metrics_text`).  :func:`install` registers the package module as Python would,
from the same spec, but leaves its ``__init__`` unrun: a name ``__init__`` would have exported
is taken from the submodule that defines it on first use, and a name this table does not know
(``generate_latest``, ``start_http_server`` ...) runs the real ``__init__`` then, so whatever a
caller asks for it gets, exactly as without this module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

PACKAGE = "prometheus_client"
# the names of prometheus_client/__init__.py an agent uses, by the submodule that defines them
HOMES = {
    "CollectorRegistry": "registry", "REGISTRY": "registry", "Metric": "metrics_core",
    "Counter": "metrics", "Gauge": "metrics", "Summary": "metrics", "Histogram": "metrics",
    "Info": "metrics", "Enum": "metrics",
    "enable_created_metrics": "metrics", "disable_created_metrics": "metrics",
    "ProcessCollector": "process_collector", "PROCESS_COLLECTOR": "process_collector",
    "PlatformCollector": "platform_collector", "PLATFORM_COLLECTOR": "platform_collector",
    "GCCollector": "gc_collector", "GC_COLLECTOR": "gc_collector",
}
# what the real __init__ registers on the default registry as it imports these modules
DEFAULT_COLLECTORS = ("process_collector", "platform_collector", "gc_collector")


def install() -> bool:
    """Register the package unrun; False when it was already imported (nothing to save then)
    or cannot be found (the import then fails where it would have)."""
    if PACKAGE in sys.modules:
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    pkg = importlib.util.module_from_spec(spec)
    loader = spec.loader
    state = {"complete": False}

    def run_init() -> None:
        state["complete"] = True
        loader.exec_module(pkg)

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or state["complete"]:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
        home = HOMES.get(name)
        if home is not None:
            if name == "REGISTRY":
                for m in DEFAULT_COLLECTORS:
                    importlib.import_module(f"{PACKAGE}.{m}")
            value = getattr(importlib.import_module(f"{PACKAGE}.{home}"), name, pkg)
            if value is not pkg:
                setattr(pkg, name, value)
                return value
        else:
            try:  # ``from prometheus_client import values``: a submodule
                return importlib.import_module(f"{PACKAGE}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{PACKAGE}.{name}":
                    raise
        run_init()
        try:
            return pkg.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from None

    setattr(pkg, "__getattr__", __getattr__)  # noqa: B010 (ModuleType declares no __getattr__)
    sys.modules[PACKAGE] = pkg
    return True
