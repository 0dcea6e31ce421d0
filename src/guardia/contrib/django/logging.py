"""``GuardiaAlertHandler``: ERROR log records become alerts, rate limited.

One alert per logger (label ``logger``), named ``DjangoError`` unless configured, with the
message as summary and the traceback as description.  The same logger and message template
fire at most once per ``interval`` seconds, and at most ``burst`` alerts leave per minute in
all; what was held back is counted in the next alert's ``suppressed`` annotation.  Sending
happens in the background, so logging never waits for the network.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any

from guardia.client.alerts import build_alert


class GuardiaAlertHandler(logging.Handler):
    def __init__(self, level: int = logging.ERROR, alertname: str = "DjangoError", severity: str = "warning",
                 interval: float = 60.0, burst: int = 30, labels: dict[str, str] | None = None) -> None:
        super().__init__(level)
        self.alertname, self.severity = alertname, severity
        self.interval, self.burst = float(interval), int(burst)
        self.labels = dict(labels or {})
        self._last: dict[tuple[str, str], float] = {}
        self._window: list[float] = []
        self._suppressed = 0
        self._lock = threading.Lock()

    def _allow(self, key: tuple[str, str], now: float) -> bool:
        with self._lock:
            last = self._last.get(key)
            self._window = [t for t in self._window if now - t < 60]
            if (last is not None and now - last < self.interval) or len(self._window) >= self.burst:
                self._suppressed += 1
                return False
            self._last[key] = now
            self._window.append(now)
            return True

    def alert_for(self, record: logging.LogRecord) -> dict[str, Any]:
        from guardia.contrib.django.settings import base_labels

        ann: dict[str, str] = {"location": f"{record.pathname}:{record.lineno}"}
        if record.exc_info and record.exc_info[0] is not None:
            ann["description"] = "".join(traceback.format_exception(*record.exc_info))[-4000:]
        with self._lock:
            if self._suppressed:
                ann["suppressed"] = str(self._suppressed)
                self._suppressed = 0
        return build_alert(self.alertname, labels={**base_labels(), **self.labels, "logger": record.name,
                                                   "level": record.levelname},
                           annotations=ann, severity=self.severity, summary=record.getMessage()[:500])

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("guardia.client"):
            return  # our own complaints about sending must not become alerts to send
        try:
            if not self._allow((record.name, str(record.msg)), time.monotonic()):
                return
            from guardia.contrib.django.settings import background

            background().submit([self.alert_for(record)])
        except Exception:
            self.handleError(record)
