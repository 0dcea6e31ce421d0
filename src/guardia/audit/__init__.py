"""Audits of a monitoring setup: rules against the live store, routing, coverage, readiness.

The seeds are audits written by hand (alerts on metrics nobody exposes, placeholder webhooks,
an API with no HTTP metrics, inhibitions of alerts nobody defines); this package finds the
same problems mechanically, every time the config changes, and writes a go/no-go checklist
from evidence.  ``run.audit`` is the entry point; ``finding`` is the one result type every
check returns; ``live`` is what a check may ask a running store (guardia's own, or any
Prometheus API through ``--url``).
"""

from guardia.audit.finding import Finding, Severity

__all__ = ["Finding", "Severity"]
