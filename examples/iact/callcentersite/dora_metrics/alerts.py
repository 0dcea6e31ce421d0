"""The team's own alert signals (seed 004), unchanged: guardia listens to them."""

from django.dispatch import Signal

critical_alert = Signal()
warning_alert = Signal()
