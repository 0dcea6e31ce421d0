"""Alertmanager semantics in-process: route, group, inhibit, silence, dedupe, deliver.

``Alertmanager`` is the public entry point; the stages live in their own modules, named
for what they do, in the order alerts flow through them.
"""

from guardia.alerting.alertmanager import (
    VERSION,
    Alertmanager,
    AlertStatus,
    AlertValidationError,
    ListedAlert,
    ListedGroup,
)
from guardia.alerting.types import Alert

__all__ = [
    "VERSION",
    "Alert",
    "AlertStatus",
    "AlertValidationError",
    "Alertmanager",
    "ListedAlert",
    "ListedGroup",
]
