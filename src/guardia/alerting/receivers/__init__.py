"""Integrations' notifiers, one module each over the shared HTTP helper.

The integrations are those of ``guardia.config.receivers.INTEGRATIONS``: for each name there
the notifier is ``alerting/receivers/NAME.py``'s ``notifier(cfg, am)``.  Modules are imported
when a receiver first uses them (email pulls in aiosmtplib).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from guardia.alerting.receivers.base import Notifier, NotifyContext, NotifyError
from guardia.alerting.templates import templater_for
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.config.receivers import INTEGRATIONS, NotifierConfig

NotifierFactory = Callable[[NotifierConfig, AlertmanagerConfig], Notifier]


def notifier_factory(kind: str) -> NotifierFactory:
    """``alerting/receivers/<kind>.py``'s ``notifier``, for an integration of the config table."""
    if kind not in INTEGRATIONS:
        raise ValueError(f"unknown integration {kind!r}")
    factory: NotifierFactory = importlib.import_module(f"{__name__}.{kind}").notifier
    return factory


def build_notifier(kind: str, cfg: NotifierConfig, am: AlertmanagerConfig) -> Notifier:
    """The notifier for one integration config (validated, globals already filled in)."""
    return notifier_factory(kind)(cfg, am)


__all__ = ["Notifier", "NotifyContext", "NotifyError", "build_notifier", "notifier_factory", "templater_for"]
