"""Per-query evaluation state: the storage, the steps, limits and collected annotations."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardia.promql.errors import QueryCanceledError, QueryTimeoutError, TooManySamplesError
from guardia.promql.values import I64


class SplitSteps(Exception):
    """A selector would load more raw samples than one chunk may hold: split the steps."""


@dataclass
class EvalContext:
    storage: Any  # anything with querier(mint, maxt)
    start: int
    end: int
    step: int
    lookback: int
    max_samples: int
    deadline: float  # time.monotonic() limit
    cancel: threading.Event | None
    subquery_step: int = 60_000
    query: str = ""
    raw_budget: int = 20_000_000
    # Set by a range query while the current chunk has several steps and may be split.
    can_split: bool = False
    warnings: dict[str, None] = field(default_factory=dict)
    infos: dict[str, None] = field(default_factory=dict)
    total_samples: int = 0
    # Samples held per top-level step, to enforce max_samples the way Prometheus does
    # (per evaluation step, not summed over a range query).
    peak_samples: int = 0

    def check(self) -> None:
        """Raise if the query ran out of time or its client went away."""
        if self.cancel is not None and self.cancel.is_set():
            raise QueryCanceledError()
        if time.monotonic() > self.deadline:
            raise QueryTimeoutError()

    def add_samples(self, held: int, total: int) -> None:
        """Account samples a selector loaded.

        ``held`` is what stays in memory at once, as Prometheus counts it: every point of
        an instant selector (a range query keeps them all), but only one step's windows of
        a range selector (windows are consumed step by step).  ``total`` is every sample
        read, the figure query statistics report.
        """
        self.total_samples += total
        self.peak_samples += held
        if self.peak_samples > self.max_samples:
            raise TooManySamplesError()
        self.check()

    def check_raw(self, raw: int) -> None:
        """Ask for a smaller chunk of steps when a selector read too much raw data."""
        if raw > self.raw_budget and self.can_split:
            raise SplitSteps()

    def warn(self, msg: str) -> None:
        self.warnings[msg] = None

    def info(self, msg: str) -> None:
        self.infos[msg] = None

    def steps(self) -> I64:
        n = (self.end - self.start) // self.step + 1 if self.step > 0 else 1
        return self.start + np.arange(n, dtype=np.int64) * max(self.step, 1)
