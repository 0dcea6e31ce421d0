"""Opsgenie: Alert API v2.  The alias is the SHA-256 of the group key, so one Opsgenie alert
follows one alert group: a firing group creates it (``POST v2/alerts``, and with
``update_alerts`` also updates its message and description), a resolved group closes it
(``POST v2/alerts/{alias}/close?identifierType=alias``).  Only 429 is retried among 4xx."""

from __future__ import annotations

from typing import Any

from guardia.alerting.receivers.base import NotifyContext, group_status
from guardia.alerting.receivers.http import client_for, post
from guardia.alerting.receivers.pagerduty import dedup_key
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.opsgenie import OpsgenieConfig, OpsgenieResponder

MAX_MESSAGE_RUNES = 130


def _split(s: str) -> list[str]:
    return [x for x in s.strip().split(",") if x]


class Opsgenie:
    def __init__(self, cfg: OpsgenieConfig, templater: Templater) -> None:
        assert cfg.api_key is not None and cfg.api_url is not None
        self.cfg, self.t = cfg, templater

    def _people(self, items: list[OpsgenieResponder], x: Any) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for r in items:
            d = {"id": x(r.id), "name": x(r.name), "username": x(r.username), "type": x(r.type)}
            if not any(d.values()):
                continue  # filled from labels that were empty
            if d["type"] == "teams":
                out.extend({"name": team, "type": "team"} for team in _split(d["name"]))
                continue
            out.append({k: v for k, v in d.items() if v or k == "type"})
        return out

    def requests(self, ctx: NotifyContext, alerts: list[Alert]) -> list[tuple[str, str, dict[str, Any]]]:
        """(method, url, body) in the order Alertmanager sends them."""
        c = self.cfg
        data = template_data(ctx, alerts)

        def x(s: str) -> str:
            return self.t.expand(s, data)

        alias = dedup_key(ctx.group_key)
        base = str(c.api_url)
        if group_status(alerts, ctx.now) == "resolved":
            return [("POST", f"{base}v2/alerts/{alias}/close?identifierType=alias", {"source": x(c.source)})]
        details = {**dict(data.CommonLabels), **{k: x(v) for k, v in c.details.items()}}
        body: dict[str, Any] = {"alias": alias, "message": x(c.message)[:MAX_MESSAGE_RUNES],
                                "description": x(c.description), "details": details, "source": x(c.source)}
        optional = {"responders": self._people(c.responders, x), "visibleTo": self._people(c.visible_to, x),
                    "tags": _split(x(c.tags)), "note": x(c.note), "priority": x(c.priority),
                    "entity": x(c.entity), "actions": _split(x(c.actions))}
        body.update({k: v for k, v in optional.items() if v})
        if not body["description"]:
            del body["description"]
        out = [("POST", f"{base}v2/alerts", body)]
        if c.update_alerts:
            out.append(("PUT", f"{base}v2/alerts/{alias}/message?identifierType=alias",
                        {"message": body["message"]}))
            out.append(("PUT", f"{base}v2/alerts/{alias}/description?identifierType=alias",
                        {"description": body.get("description", "")}))
        return out

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        assert self.cfg.api_key is not None
        headers = {"Authorization": f"GenieKey {self.cfg.api_key.reveal()}"}
        async with client_for(self.cfg.http_config) as client:
            for method, url, body in self.requests(ctx, alerts):
                await post(client, url, json=body, headers=headers, method=method)


notifier = templated_notifier(Opsgenie, OpsgenieConfig)
