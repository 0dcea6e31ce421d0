"""apprise_configs: guardia's own integration (Alertmanager has none) for every service the
Apprise library reaches by URL (Matrix, Mattermost, Gotify, ntfy, Signal, SMS gateways, ...),
as Uptime Kuma offers them.  Each URL carries its credentials, so each is a secret."""

from __future__ import annotations

from guardia.config.errors import Path as FieldPath
from guardia.config.receivers.base import NotifierConfig, ReceiverChecks
from guardia.config.schema import Field
from guardia.config.secrets import Secret


class AppriseConfig(NotifierConfig):
    urls: list[Secret] = Field(default_factory=list)
    title: str = '{{ template "apprise.default.title" . }}'
    body: str = '{{ template "apprise.default.body" . }}'
    body_format: str = "text"


def resolve(c: AppriseConfig, p: FieldPath, name: str, checks: ReceiverChecks) -> AppriseConfig:
    if not c.urls:
        checks.err((*p, "urls"), "list at least one Apprise URL, e.g. ntfy://ntfy.example.org/alerts")
    if c.body_format not in ("text", "markdown", "html"):
        checks.err((*p, "body_format"), "body_format must be text, markdown or html")
    try:
        import apprise  # the integration needs it; only configs that use it import it
    except ImportError:
        checks.err(p, "the apprise receiver needs the apprise package: pip install 'guardia[apprise]'")
        return c
    urls: list[Secret] = []
    for i, u in enumerate(c.urls):
        s = checks.secret((*p, "urls", i), u, None, "Apprise URL", name)
        if s is None:
            continue
        if not apprise.Apprise().add(s.reveal()):
            scheme = s.reveal().split("://", 1)[0]
            checks.err((*p, "urls", i), f"Apprise does not understand this URL (scheme {scheme!r}); see the "
                       "Apprise wiki for the services and their URL forms")
        urls.append(s)
    return c.model_copy(update={"urls": urls})
