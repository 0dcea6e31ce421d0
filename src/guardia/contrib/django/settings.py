"""The ``GUARDIA`` settings dict, read once, and the process-wide background sender."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings

from guardia.client.background import BackgroundSender
from guardia.client.sender import Sender
from guardia.client.spool import Spool


def guardia_settings() -> dict[str, Any]:
    value = getattr(settings, "GUARDIA", None) or {}
    if not isinstance(value, dict):
        raise TypeError("settings.GUARDIA must be a dict (see guardia.contrib.django)")
    return value


def base_labels() -> dict[str, str]:
    return {str(k): str(v) for k, v in (guardia_settings().get("LABELS") or {}).items()}


@lru_cache(maxsize=1)
def background() -> BackgroundSender:
    conf = guardia_settings()
    kw: dict[str, Any] = {}
    if conf.get("URL"):
        kw["url"] = str(conf["URL"])
    if conf.get("SPOOL_DIR"):
        kw["spool"] = Spool(conf["SPOOL_DIR"])
    return BackgroundSender(Sender(**kw))
