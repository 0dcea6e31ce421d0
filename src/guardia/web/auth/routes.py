"""Who may call which route: the one table the auth middleware enforces.

Each row is (methods, path regex, who, action).  ``who`` is a role (viewer < editor < admin),
``OPEN`` (login, logout, static assets: needed before anyone has signed in) or a public group
name from the web config's ``guardia.public`` list (open when listed there, else viewer).  The
first matching row wins; a request that matches no row needs ``admin`` (fail closed), and
``tests/web/auth/test_route_table.py`` builds the whole app and fails for any route no row
names, so a new route cannot slip through with a default.  ``action`` names a change for the
audit log; rows without one are reads or data ingestion (samples, logs, heartbeats), which
would drown the log.

Paths are matched without the ``--web.external-url`` prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"
OPEN = "open"
RANK = {VIEWER: 1, EDITOR: 2, ADMIN: 3}
READ = frozenset({"GET", "HEAD"})
ANY = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
POST = frozenset({"POST"})
READ_OR_POST = READ | POST


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    who: str
    action: str | None = None


def _r(methods: frozenset[str], pattern: str, who: str, action: str | None = None) -> Rule:
    return Rule(methods, re.compile(pattern + r"\Z"), who, action)


_SEG = r"[^/]+"

RULES: tuple[Rule, ...] = (
    # open to everyone: signing in, and the assets the login page needs
    _r(READ_OR_POST, r"/-/auth/login", OPEN),
    _r(POST, r"/-/auth/logout", OPEN),
    _r(READ, r"/-/auth/oidc/(start|callback)", OPEN),
    _r(READ, r"/-/auth/csrf\.js", OPEN),
    _r(READ, r"/static/.*", OPEN),
    # the acknowledgement link in a notification: its signed token is the credential
    _r(READ, rf"/ack/{_SEG}", OPEN),
    _r(POST, rf"/ack/{_SEG}", OPEN, "alert.ack"),
    # public when the web config lists the group, else viewer
    _r(READ, r"/-/(healthy|ready)", "health"),
    _r(ANY, rf"/api/push/{_SEG}", "heartbeats"),
    _r(ANY, rf"/ping/{_SEG}(/fail)?", "heartbeats"),
    _r(READ, rf"/status/{_SEG}/badge/{_SEG}/{_SEG}\.svg", "badges"),
    _r(READ, rf"/status/{_SEG}(/incidents/{_SEG}|/feed\.{_SEG})?", "status_pages"),
    _r(POST, rf"/status/{_SEG}/subscribe", "status_pages"),
    _r(READ, rf"/status/{_SEG}/confirm/{_SEG}", "status_pages"),  # links in subscribers' emails
    _r(READ_OR_POST, rf"/status/{_SEG}/unsubscribe/{_SEG}", "status_pages"),
    # admin: the process, the store, who may do what
    _r(frozenset({"POST", "PUT"}), r"/-/reload", ADMIN, "config.reload"),
    _r(frozenset({"POST", "PUT"}), r"/api/v1/admin/tsdb/snapshot", ADMIN, "tsdb.snapshot"),
    _r(frozenset({"POST", "PUT"}), r"/api/v1/admin/tsdb/delete_series", ADMIN, "tsdb.delete_series"),
    _r(frozenset({"POST", "PUT"}), r"/api/v1/admin/tsdb/clean_tombstones", ADMIN, "tsdb.clean_tombstones"),
    _r(frozenset({"POST", "PUT"}), r"/loki/api/v1/delete", ADMIN, "logs.delete"),
    _r(frozenset({"DELETE"}), r"/loki/api/v1/delete", ADMIN, "logs.delete_cancel"),
    _r(READ, r"/api/v1/status/config", ADMIN),
    _r(READ, r"/api/v1/audit/log", ADMIN),
    _r(READ, r"/audit-log", ADMIN),
    # editor: silences, alerts, incidents and maintenance, dashboards; pushed samples and logs
    _r(POST, r"/api/v2/silences", EDITOR, "silence.create"),
    _r(frozenset({"DELETE"}), rf"/api/v2/silence/{_SEG}", EDITOR, "silence.expire"),
    _r(POST, r"/api/v2/alerts", EDITOR),
    _r(POST, r"/api/v1/acks", EDITOR, "alert.ack"),
    _r(frozenset({"DELETE"}), rf"/api/v1/acks/{_SEG}", EDITOR, "alert.unack"),
    _r(POST, r"/api/v1/deployments", EDITOR, "deployment.record"),
    _r(POST, rf"/api/v1/reports/{_SEG}/run", EDITOR, "report.run"),  # it delivers to receivers
    _r(POST, r"/api/v1/notify/test", EDITOR, "notify.test"),  # a test notification reaches people
    _r(READ, rf"/status/{_SEG}/manage", EDITOR),
    _r(POST, rf"/status/{_SEG}/manage/incidents", EDITOR, "incident.create"),
    _r(POST, rf"/status/{_SEG}/manage/incidents/{_SEG}", EDITOR, "incident.update"),
    _r(POST, rf"/status/{_SEG}/manage/maintenance", EDITOR, "maintenance.create"),
    _r(POST, rf"/status/{_SEG}/manage/maintenance/{_SEG}/cancel", EDITOR, "maintenance.cancel"),
    _r(POST, r"/api/dashboards/db", EDITOR, "dashboard.save"),
    _r(frozenset({"DELETE"}), rf"/api/dashboards/uid/{_SEG}", EDITOR, "dashboard.delete"),
    _r(POST, r"/api/ui/dashboards/import", EDITOR, "dashboard.import"),
    _r(POST, r"/api/v1/write", EDITOR),
    _r(POST, r"/api/v1/otlp/v1/metrics", EDITOR),
    _r(POST, r"/(loki/api/v1|api/prom)/push", EDITOR),
    _r(POST, r"/otlp/v1/logs", EDITOR),
    # Loki's ruler API: LogQL rule groups by namespace (reads are in the viewer rows below)
    _r(POST, rf"/(loki/api/v1|api/prom)/rules/{_SEG}", EDITOR, "log_rules.set"),
    _r(frozenset({"DELETE"}), rf"/(loki/api/v1|api/prom)/rules/{_SEG}(/{_SEG})?", EDITOR, "log_rules.delete"),
    # viewer: queries (POST is a read there, as in Prometheus and Loki) and every read API
    _r(READ_OR_POST, r"/api/v1/(query|query_range|query_exemplars|format_query|series|labels)", VIEWER),
    _r(READ_OR_POST, rf"/loki/api/v1/(query|query_range|labels|label|label/{_SEG}/values|series|index/stats"
       r"|index/volume|index/volume_range|detected_fields|detected_labels|format_query|patterns)", VIEWER),
    _r(READ, r"/logs(/around)?", VIEWER),
    _r(READ, r"/api/v1/.*", VIEWER),
    _r(READ, r"/api/v2/.*", VIEWER),
    _r(READ, r"/loki/api/v1/.*", VIEWER),
    _r(READ, r"/api/prom/rules(/.+)?", VIEWER),
    _r(READ, r"/prometheus/api/v1/(rules|alerts)", VIEWER),
    _r(READ, r"/api/(search|dashboards/uid/.+|ui/dashboards/.+)", VIEWER),
    _r(READ, r"/(metrics|federate|probe)", VIEWER),
    # the UI's pages
    _r(READ, r"/(|graph|explore|targets|alerts|rules|silences|notifications|status|dashboards|probes"
             r"|audit|readiness)",
       VIEWER),
    _r(READ, r"/(d|slos)/.+|/slos", VIEWER),
    _r(READ, rf"/reports(/{_SEG})?", VIEWER),
)

_FALLBACK = Rule(ANY, re.compile(""), ADMIN)


def rule_for(method: str, path: str) -> Rule:
    """The first row that matches, or the admin-only fallback."""
    for rule in RULES:
        if method in rule.methods and rule.pattern.match(path):
            return rule
    return _FALLBACK


def is_fallback(rule: Rule) -> bool:
    return rule is _FALLBACK
