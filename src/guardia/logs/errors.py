"""Errors users can cause in the logs subsystem, each saying what to change."""

from __future__ import annotations


class LogsError(ValueError):
    """Base of the log errors a client or a config can cause."""


class PushError(LogsError):
    """Some streams of a push were refused; ``accepted`` lines of the others were stored."""

    def __init__(self, problems: list[str], accepted: int) -> None:
        self.problems = problems
        self.accepted = accepted
        super().__init__("; ".join(problems))


class LimitError(LogsError):
    """A limit (streams, line size, ingestion rate) was hit; the message names the limit's flag."""


class QueryError(LogsError):
    """A LogQL query that does not parse or cannot run; the message points at the problem."""
