"""jira_configs: one Jira issue per alert group (found again by its ALERT{hash} label)."""

from __future__ import annotations

from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.config.fields import Duration
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field


class JiraConfig(NotifierConfig):
    api_url: str | None = None
    api_type: str = "auto"
    project: str = ""
    issue_type: str = ""
    summary: str = '{{ template "jira.default.summary" . }}'
    description: str = '{{ template "jira.default.description" . }}'
    priority: str = '{{ template "jira.default.priority" . }}'
    labels: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    reopen_transition: str = ""
    resolve_transition: str = ""
    wont_fix_resolution: str = ""
    reopen_duration: Duration = 0


def resolve(c: JiraConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> JiraConfig:
    if not c.project:
        checks.err((*p, "project"), "missing project in jira_config")
    if not c.issue_type:
        checks.err((*p, "issue_type"), "missing issue_type in jira_config")
    if c.api_type not in ("auto", "cloud", "datacenter"):
        checks.err((*p, "api_type"), "api_type must be one of auto, cloud, datacenter")
    url = c.api_url or checks.global_.jira_api_url
    if not url:
        checks.err((*p, "api_url"), "missing api_url in jira_config (or global jira_api_url)")
    return c.model_copy(update={"api_url": url, "http_config": checks.http_config(c)})
