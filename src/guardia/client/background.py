"""Sending from code that must not wait: a logging handler, a Django signal in a request.

``BackgroundSender.submit`` only puts the alerts on a bounded queue; one daemon thread sends
them with the ``Sender``'s retries and spool.  A full queue drops the newest batch (the app
is producing alerts faster than anyone can read them) and counts it.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from guardia.client.sender import AlertRejected, Sender, Unreachable

log = logging.getLogger("guardia.client")


class BackgroundSender:
    def __init__(self, sender: Sender | None = None, max_queue: int = 1000) -> None:
        self.sender = sender or Sender()
        self._queue: queue.Queue[list[dict[str, Any]]] = queue.Queue(max_queue)
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, alerts: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="guardia-alerts", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(alerts)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            alerts = self._queue.get()
            try:
                self.sender.send(alerts)
            except (Unreachable, AlertRejected) as e:
                # not through logging.error: a handler sending ERROR records would loop on it
                log.warning("event=alert_not_sent reason=%r", str(e))
            except Exception as e:
                log.warning("event=alert_not_sent reason=%r", repr(e))
            finally:
                self._queue.task_done()

    def join(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted was sent or spooled; False on timeout."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_s)
