"""Running one check: in a bounded pool, with a timeout, never letting one check hold up another.

At most ``workers`` checks run at once (a semaphore).  Blocking work (Python functions,
MariaDB and SQLite queries) runs in a thread of its own rather than asyncio's shared pool, so
a check that hangs cannot starve PromQL or rule evaluation of threads; when it times out its
slot is freed at once and the abandoned thread is counted, and the same check is not started
again until that thread has ended (so a hung check holds at most one thread).  Command checks
and PostgreSQL queries are coroutines and are really cancelled (the plugin's process group
killed, the query stopped by the server's statement timeout).  A check that raises or times
out gives an ``Outcome`` with ``ok=False`` and its message, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from guardia.checks.command import run_command
from guardia.checks.config import Check, CommandSpec, SQLSpec
from guardia.checks.python_kind import CheckImportError
from guardia.checks.result import CheckResultError, Outcome, outcome_of
from guardia.checks.sql import SQLCheckError, query_mysql, query_postgres, query_sqlite

log = logging.getLogger("guardia.checks")

DEFAULT_WORKERS = 4
SQL_GRACE_S = 2.0


class Runner:
    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        self.workers = workers
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._threads: dict[str, int] = {}  # check name -> threads still running (hung ones)
        self._lock = threading.Lock()

    @property
    def hung_threads(self) -> int:
        with self._lock:
            return sum(self._threads.values())

    def _semaphore(self) -> asyncio.Semaphore:
        """The pool's slots, on the running loop (a management command runs each time in a
        new ``asyncio.run``; a semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem, self._sem_loop = asyncio.Semaphore(self.workers), loop
        return self._sem

    def _in_thread(self, name: str, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """``fn()`` in a daemon thread of its own; the future resolves on the event loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if fut.done():
                return
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)

        def target() -> None:
            try:
                result, error = fn(), None
            except BaseException as e:
                result, error = None, e
            finally:
                with self._lock:
                    self._threads[name] -= 1
            # the loop may have closed while the check hung: then nobody waits for it any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, result, error)

        with self._lock:
            self._threads[name] = self._threads.get(name, 0) + 1
        threading.Thread(target=target, name=f"check:{name}", daemon=True).start()
        return fut

    def _call(self, check: Check, fn: Callable[[], Any] | None) -> Awaitable[Outcome]:
        timeout_s = check.timeout_ms / 1000
        spec = check.target
        if fn is not None:  # Python checks, and built-in ones (DORA) the service resolved to a function
            return self._python(check.name, fn)
        if isinstance(spec, CommandSpec):
            return run_command(spec, timeout_s, check.base_dir)
        if isinstance(spec, SQLSpec):
            assert check.dsn is not None
            dsn = check.dsn
            if dsn.driver == "postgresql":
                return query_postgres(dsn, spec.query, timeout_s)
            if dsn.driver == "mysql":
                return self._in_thread(check.name, lambda: query_mysql(dsn, spec.query, timeout_s))
            base = check.base_dir
            return self._in_thread(check.name, lambda: query_sqlite(dsn, spec.query, timeout_s, base))
        raise CheckImportError(f"check {check.name!r} has nothing to run")

    async def _python(self, name: str, fn: Callable[[], Any]) -> Outcome:
        start = time.monotonic()
        if inspect.iscoroutinefunction(fn):
            returned = await fn()
        else:
            returned = await self._in_thread(name, fn)
            if inspect.isawaitable(returned):  # a lambda around an ``async def``
                returned = await returned
        return outcome_of(returned, time.monotonic() - start)

    async def run(self, check: Check, fn: Callable[[], Any] | None = None) -> Outcome:
        """One run of ``check`` (``fn``: the resolved function of a Python check)."""
        with self._lock:
            still = self._threads.get(check.name, 0)
        if still:
            return Outcome.failed(f"the previous run is still running after its timeout "
                                  f"({check.timeout_ms / 1000:g}s); not started again until it ends")
        async with self._semaphore():
            start = time.monotonic()
            try:
                # a database stops the query itself at ``timeout`` (and says so); the grace is
                # for a server that stopped answering altogether
                grace = SQL_GRACE_S if check.kind == "sql" else 0.0
                return await asyncio.wait_for(self._call(check, fn), timeout=check.timeout_ms / 1000 + grace)
            except TimeoutError:
                msg = f"timed out after {check.timeout_ms / 1000:g}s"
            except (SQLCheckError, CheckResultError, CheckImportError) as e:
                msg = str(e)
            except Exception as e:  # the check's own code raised: keep its message
                msg = f"{type(e).__name__}: {e}"
            log.warning("event=check_failed check=%s kind=%s reason=%r", check.name, check.kind, msg)
            return Outcome.failed(msg, time.monotonic() - start)
