"""PromQL errors, typed the way the Prometheus HTTP API reports them.

The API layer maps ``error_type`` straight into the ``errorType`` field of the error
envelope, so the wording of the messages follows Prometheus's.
"""

from __future__ import annotations


class PromQLError(Exception):
    """Base of every error the engine raises on purpose."""

    error_type = "execution"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParseError(PromQLError):
    """The query text is not valid PromQL (``bad_data``), with a 1-based position if known."""

    error_type = "bad_data"

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        pos = f"{line}:{column}: " if line is not None and column is not None else ""
        super().__init__(f"{pos}parse error: {message}")


class BadDataError(PromQLError):
    """A well-formed query with an argument Prometheus refuses at evaluation (``bad_data``)."""

    error_type = "bad_data"


class QueryTimeoutError(PromQLError):
    error_type = "timeout"

    def __init__(self, where: str = "expression evaluation") -> None:
        super().__init__(f"query timed out in {where}")


class QueryCanceledError(PromQLError):
    error_type = "canceled"

    def __init__(self, where: str = "expression evaluation") -> None:
        super().__init__(f"query was canceled in {where}")


class TooManySamplesError(PromQLError):
    error_type = "execution"

    def __init__(self, where: str = "query execution") -> None:
        super().__init__(f"query processing would load too many samples into memory in {where}")


class ExecutionError(PromQLError):
    """Evaluation failed (duplicate label sets, many-to-many matching, ...)."""

    error_type = "execution"
