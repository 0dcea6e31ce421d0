"""gunicorn server hooks: ``gunicorn -c python:guardia.instrument.gunicorn_hooks app:app``.

Or, in your own gunicorn.conf.py: ``from guardia.instrument.gunicorn_hooks import on_starting,
child_exit``. The master empties the multiprocess directory before any worker starts (so counters
of the last run are not added to this one) and marks each worker that exits, so its live gauges
(requests in progress, open WebSockets) stop counting at once rather than at the next scrape.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client.multiprocess import mark_process_dead

from guardia.instrument import workers as _workers  # not "workers": gunicorn reads that name as its setting


def on_starting(server: Any) -> None:
    given = os.environ.get(_workers.ENV)
    path = Path(given) if given else _workers.run_dir(os.getpid())
    _workers.fresh_dir(path)
    os.environ[_workers.ENV] = str(path)
    if not given:
        _workers.remove_stale_dirs(path)


def child_exit(server: Any, worker: Any) -> None:
    path = os.environ.get(_workers.ENV)
    if path:
        mark_process_dead(worker.pid, path)  # type: ignore[no-untyped-call]
