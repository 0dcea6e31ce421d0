"""Failing receivers from the embedded Alertmanager's live delivery status (``serve`` hands
the audit its integrations' last errors and since when they fail)."""

from __future__ import annotations

from pathlib import Path

from guardia.audit.inputs import from_files
from guardia.audit.routing import Delivery, routing_checks

CASES = Path(__file__).parent / "data" / "checks"


def test_a_failing_integration_is_a_bug_with_its_error_and_a_healthy_one_is_not() -> None:
    inp = from_files([str(CASES / "receiver-failing-firing" / "alertmanager.yml")])
    delivery = [Delivery("slack", "slack", "unexpected status code 404: no_service", 1_796_000_000.0, 7),
                Delivery("email", "email", "", 0.0, 0)]
    got = [f for f in routing_checks(inp, None, delivery) if f.check == "receiver/failing"]
    assert [(f.arg, f.line) for f in got] == [("slack", 8)]
    assert "404: no_service" in got[0].message and "(7 attempts)" in got[0].message
    assert [f for f in routing_checks(inp, None, delivery[1:]) if f.check == "receiver/failing"] == []

