"""Notification templates: Alertmanager's template data and default templates.

The data has the names Alertmanager's templates use (``.Status``, ``.Receiver``,
``.GroupLabels``, ``.CommonLabels``, ``.CommonAnnotations``, ``.ExternalURL``, ``.Alerts``
with ``.Firing``/``.Resolved``, label maps with ``.SortedPairs``/``.Names``/``.Values``/
``.Remove``), so custom template files written for Alertmanager work unchanged.  The
default templates below are guardia's own text and carry the same information as
Alertmanager's defaults (subject line, alert lists, Slack/PagerDuty/Telegram/Teams/email
bodies).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from guardia.alerting.receivers.base import Notifier, NotifyContext, group_status, quote_meta
from guardia.alerting.types import NS, Alert, common_labels, fingerprint_hex
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.config.receivers import NotifierConfig
from guardia.template import StringMap, Template, alertmanager_funcs, as_go_time


@dataclass(frozen=True)
class Pair:
    Name: str
    Value: str


class Pairs(list[Pair]):
    def Names(self) -> list[str]:
        return [p.Name for p in self]

    def Values(self) -> list[str]:
        return [p.Value for p in self]


class KV(StringMap):
    """A label or annotation map with Alertmanager's template methods."""

    def SortedPairs(self) -> Pairs:
        return Pairs(Pair(k, self[k]) for k in sorted(self))

    def Names(self) -> list[str]:
        return sorted(self)

    def Values(self) -> list[str]:
        return [self[k] for k in sorted(self)]

    def Remove(self, keys: list[str]) -> KV:
        drop = set(keys)
        return KV({k: v for k, v in self.items() if k not in drop})


def _go_time(ns: int) -> Any:
    if ns == 0:
        return as_go_time(datetime(1, 1, 1, tzinfo=UTC))
    return as_go_time(datetime.fromtimestamp(ns // NS, tz=UTC).replace(microsecond=(ns % NS) // 1000))


@dataclass
class TemplateAlert:
    Status: str
    Labels: KV
    Annotations: KV
    StartsAt: Any
    EndsAt: Any
    GeneratorURL: str
    Fingerprint: str


class Alerts(list[TemplateAlert]):
    def Firing(self) -> Alerts:
        return Alerts(a for a in self if a.Status == "firing")

    def Resolved(self) -> Alerts:
        return Alerts(a for a in self if a.Status == "resolved")


@dataclass
class TemplateData:
    Receiver: str
    Status: str
    Alerts: Alerts
    GroupLabels: KV
    CommonLabels: KV
    CommonAnnotations: KV
    ExternalURL: str
    GroupKey: str = ""


def template_data(ctx: NotifyContext, alerts: list[Alert]) -> TemplateData:
    return TemplateData(
        Receiver=quote_meta(ctx.receiver),
        Status=group_status(alerts, ctx.now),
        Alerts=Alerts(
            TemplateAlert(a.status(ctx.now), KV(dict(a.labels)), KV(dict(a.annotations)),
                          _go_time(a.starts_at), _go_time(a.ends_at), a.generator_url,
                          fingerprint_hex(a.fingerprint))
            for a in alerts
        ),
        GroupLabels=KV(dict(ctx.group_labels)),
        CommonLabels=KV(common_labels(alerts)),
        CommonAnnotations=KV(common_labels(alerts, "annotations")),
        ExternalURL=ctx.external_url,
        GroupKey=ctx.group_key,
    )


DEFAULT_TEMPLATES = (Path(__file__).parent / "default.tmpl").read_text(encoding="utf-8")


class Templater:
    """Default templates plus the config's template files; expands config strings."""

    def __init__(self, files: list[str] | None = None) -> None:
        self.tmpl = Template(alertmanager_funcs()).parse(DEFAULT_TEMPLATES, "default.tmpl")
        for f in files or []:
            self.tmpl.parse(Path(f).read_text(encoding="utf-8"), Path(f).name)

    def expand(self, text: str | None, data: TemplateData) -> str:
        """Expand one config string (``{{ template "slack.default.title" . }}`` etc.)."""
        if not text:
            return ""
        t = Template(alertmanager_funcs())
        t.trees.update(self.tmpl.trees)
        t.parse(text, "__text__")
        return t.execute(data, "__text__")

    def default(self, name: str, data: TemplateData) -> str:
        return self.tmpl.execute(data, name)


_TEMPLATERS: dict[tuple[tuple[str, int], ...], Templater] = {}


def templater_for(am: AlertmanagerConfig) -> Templater:
    """One parsed template set per set of template files and their modification times, so
    all receivers share one parse and a reload after editing a template picks it up."""
    key = tuple((f, os.stat(f).st_mtime_ns if os.path.exists(f) else 0) for f in am.template_files)
    if key not in _TEMPLATERS:
        if len(_TEMPLATERS) > 16:
            _TEMPLATERS.clear()
        _TEMPLATERS[key] = Templater(list(am.template_files))
    return _TEMPLATERS[key]


_C = TypeVar("_C", bound=NotifierConfig)


def templated_notifier(make: Callable[[_C, Templater], Notifier], config: type[_C]
                       ) -> Callable[[NotifierConfig, AlertmanagerConfig], Notifier]:
    """An integration module's ``notifier`` for a notifier built from its config and the
    Alertmanager's templates (every integration but the webhook's)."""

    def notifier(cfg: NotifierConfig, am: AlertmanagerConfig) -> Notifier:
        assert isinstance(cfg, config), f"{type(cfg).__name__} is not a {config.__name__}"
        return make(cfg, templater_for(am))

    return notifier
