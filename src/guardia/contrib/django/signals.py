"""The bridge for apps that already send alert signals (``critical_alert.send(...)``).

Each configured signal gets a receiver that turns one ``send`` into one alert: the alert name
is the ``alertname`` (or ``name``) keyword, else the signal's own name (``critical_alert``);
``message`` (or ``msg``) becomes the summary; a ``context`` dict becomes labels when its
values are short scalars (anything else goes to the ``context`` annotation).  ``resolved=True``
resolves instead of firing.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

from django.dispatch import Signal

from guardia.client.alerts import build_alert
from guardia.contrib.django.settings import background, base_labels, guardia_settings

MAX_LABEL_VALUE = 100
_connected: dict[int, Any] = {}


def _split_context(context: Any) -> tuple[dict[str, str], dict[str, str]]:
    labels: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(context, Mapping):
        for k, v in context.items():
            short = isinstance(v, str | int | float | bool) and len(str(v)) <= MAX_LABEL_VALUE
            if short and str(k).isidentifier():
                labels[str(k)] = str(v)
            else:
                extra[str(k)] = v
    elif context is not None:
        extra["context"] = context
    ann = {"context": json.dumps(extra, default=str)[:2000]} if extra else {}
    return labels, ann


def alert_from_signal(signal_name: str, options: Mapping[str, Any],
                      kwargs: Mapping[str, Any]) -> dict[str, Any]:
    alertname = str(kwargs.get("alertname") or kwargs.get("name") or options.get("alertname") or signal_name)
    labels, ann = _split_context(kwargs.get("context"))
    message = kwargs.get("message") or kwargs.get("msg")
    return build_alert(
        alertname,
        labels={**base_labels(), **dict(options.get("labels") or {}), **labels},
        annotations=ann,
        severity=str(kwargs.get("severity") or options.get("severity") or "") or None,
        summary=str(message) if message else None,
        resolved=bool(kwargs.get("resolved")),
    )


def connect(signal: Signal, name: str, **options: Any) -> None:
    """Send every ``signal.send(...)`` to guardia as an alert (``options``: severity, labels,
    alertname)."""

    def receiver(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        background().submit([alert_from_signal(name, options, kwargs)])

    _connected[id(signal)] = receiver  # Django keeps weak references to receivers
    signal.connect(receiver, weak=False, dispatch_uid=f"guardia:{name}")


def connect_configured() -> None:
    """Connect the signals named in ``GUARDIA["SIGNALS"]`` (dotted paths)."""
    for path, options in (guardia_settings().get("SIGNALS") or {}).items():
        module, _, attr = str(path).rpartition(".")
        signal = getattr(importlib.import_module(module), attr)
        if not isinstance(signal, Signal):
            raise TypeError(f"GUARDIA['SIGNALS']: {path} is not a django.dispatch.Signal")
        connect(signal, attr, **dict(options or {}))
