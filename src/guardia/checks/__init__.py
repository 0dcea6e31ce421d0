"""Checks: Python functions, SQL queries and Nagios plugins whose results are series.

Public API for the code a team writes its checks in::

    import guardia.checks

    @guardia.checks.check(interval="1h", warning="> 50000", critical="> 100000")
    def session_rows() -> int: ...

The running side (``CheckService``) is built by the server; see docs/checks.md.
"""

from guardia.checks.registry import check
from guardia.checks.result import CheckResult, Status

__all__ = ["CheckResult", "Status", "check"]
