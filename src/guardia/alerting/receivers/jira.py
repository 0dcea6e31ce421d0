"""Jira: one issue per alert group, found again by its ``ALERT{sha256 of the group key}`` label.

A flush searches for the group's issue (JQL on project and label; open ones, or with a reopen
transition also those resolved within ``reopen_duration``), then creates it (``POST issue``) or
updates it (``PUT issue/KEY``), and finally moves it with ``resolve_transition`` when the group
resolved or ``reopen_transition`` when it fires again.  A resolved group with no issue opens
none.  Jira Cloud (``*.atlassian.net`` or ``api_type: cloud``) searches through v3
``search/jql``; a v3 ``api_url`` takes the description as Atlassian Document Format JSON.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from guardia.alerting.receivers.base import NotifyContext, NotifyError, group_status
from guardia.alerting.receivers.http import check_status, client_for, redact_url
from guardia.alerting.receivers.pagerduty import dedup_key
from guardia.alerting.templates import Templater, template_data, templated_notifier
from guardia.alerting.types import Alert
from guardia.config.receivers.jira import JiraConfig

MAX_SUMMARY, MAX_DESCRIPTION = 255, 32767


def _q(s: str) -> str:
    return json.dumps(s)


class Jira:
    def __init__(self, cfg: JiraConfig, templater: Templater) -> None:
        assert cfg.api_url is not None
        self.cfg, self.t = cfg, templater
        self.api = cfg.api_url.rstrip("/")

    def search_request(self, group_id: str, firing: bool, project: str) -> tuple[str, dict[str, Any]]:
        c = self.cfg
        jql = f"resolution != {_q(c.wont_fix_resolution)} and " if c.wont_fix_resolution else ""
        minutes = c.reopen_duration // 60_000
        if firing and c.reopen_transition and minutes > 0:
            jql += f"(resolutiondate is EMPTY OR resolutiondate >= -{minutes}m) and "
        else:
            jql += "statusCategory != Done and "
        label = f"ALERT{{{group_id}}}"
        jql += f"project={_q(project)} and labels={_q(label)} order by status ASC,resolutiondate DESC"
        body = {"jql": jql, "maxResults": 2, "fields": ["status"]}
        host = httpx.URL(self.api).host
        if c.api_type == "cloud" or (c.api_type == "auto" and host.endswith("atlassian.net")):
            return (self.api + "/search/jql").replace("/2", "/3", 1), body
        return self.api + "/search", body

    def issue_body(self, ctx: NotifyContext, alerts: list[Alert]) -> dict[str, Any]:
        c = self.cfg
        data = template_data(ctx, alerts)

        def x(s: str) -> str:
            return self.t.expand(s, data)

        def deep(v: Any) -> Any:
            if isinstance(v, str):
                return x(v)
            if isinstance(v, dict):
                return {str(k): deep(w) for k, w in v.items()}
            if isinstance(v, list | tuple):
                return [deep(w) for w in v]
            return v

        fields: dict[str, Any] = {k: deep(v) for k, v in c.fields.items()}
        description: Any = x(c.description)[:MAX_DESCRIPTION]
        if self.api.endswith("/3"):
            try:
                description = json.loads(description)
            except ValueError as e:
                raise NotifyError(f"description unmarshaling: {e}", retryable=False) from None
        fields.update({
            "project": {"key": x(c.project)},
            "issuetype": {"name": x(c.issue_type)},
            "summary": x(c.summary)[:MAX_SUMMARY],
            "description": description,
            "labels": sorted([*(x(label) for label in c.labels), f"ALERT{{{dedup_key(ctx.group_key)}}}"]),
        })
        priority = x(c.priority)
        if priority:
            fields["priority"] = {"name": priority}
        return {"fields": fields}

    async def _call(self, client: httpx.AsyncClient, method: str, url: str, body: Any = None) -> Any:
        try:
            r = await client.request(method, url, json=body, headers={"Accept-Language": "en"})
        except httpx.HTTPError as e:
            raise NotifyError(f"error calling {redact_url(url)}: {e}", retryable=True) from None
        check_status(r, url)
        return r.json() if r.content else None

    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        c = self.cfg
        firing = group_status(alerts, ctx.now) == "firing"
        project = self.t.expand(c.project, template_data(ctx, alerts))
        async with client_for(c.http_config) as client:
            url, search = self.search_request(dedup_key(ctx.group_key), firing, project)
            found = (await self._call(client, "POST", url, search) or {}).get("issues") or []
            issue = found[0] if found else None
            if issue is None and not firing:
                return  # no issue is opened for a group that is already resolved
            body = self.issue_body(ctx, alerts)
            if issue is None:
                await self._call(client, "POST", f"{self.api}/issue", body)
                return
            await self._call(client, "PUT", f"{self.api}/issue/{issue['key']}", body)
            status = ((issue.get("fields") or {}).get("status") or {}).get("statusCategory", {}).get("key")
            done = status == "done"
            name = (c.reopen_transition if firing and done
                    else c.resolve_transition if not firing and not done else "")
            if not name:
                return
            listed = await self._call(client, "GET", f"{self.api}/issue/{issue['key']}/transitions")
            ids = [t["id"] for t in (listed or {}).get("transitions", []) if t.get("name") == name]
            if not ids:
                raise NotifyError(f"can't find transition {name} for issue {issue['key']}", retryable=False)
            await self._call(client, "POST", f"{self.api}/issue/{issue['key']}/transitions",
                             {"transition": {"id": ids[0]}})


notifier = templated_notifier(Jira, JiraConfig)
