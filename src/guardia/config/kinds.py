"""Tell a prometheus.yml from an alertmanager.yml, a rule file, a rule test file or a guardia.yml.

``guardia check config`` accepts any of them in one command line, as people keep them side
by side; the kind is read from the top-level keys (the file name only breaks ties), so a
file named ``config.yml`` is still checked with the right rules.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any


class Kind(enum.StrEnum):
    PROMETHEUS = "prometheus.yml"
    ALERTMANAGER = "alertmanager.yml"
    RULES = "rule file"
    RULE_TESTS = "rule test file"
    GUARDIA = "guardia.yml"
    UNKNOWN = "unknown"


GUARDIA_KEYS = frozenset({
    "alertmanager", "probes", "probe_modules", "status_pages", "checks", "slos", "web", "logs", "reports",
})
PROMETHEUS_KEYS = frozenset({
    "global", "alerting", "rule_files", "scrape_config_files", "scrape_configs", "storage",
    "remote_write", "remote_read", "tracing", "otlp", "runtime",
})
ALERTMANAGER_KEYS = frozenset({
    "route", "receivers", "inhibit_rules", "templates", "time_intervals", "mute_time_intervals",
})
_AM_GLOBAL_KEYS = frozenset({
    "resolve_timeout", "smtp_smarthost", "smtp_from", "slack_api_url", "pagerduty_url", "http_config",
    "smtp_auth_username", "smtp_auth_password", "telegram_api_url", "webex_api_url", "opsgenie_api_url",
})
_PROM_GLOBAL_KEYS = frozenset({"scrape_interval", "scrape_timeout", "evaluation_interval", "external_labels"})


def detect_kind(data: Any, filename: str = "") -> Kind:
    """The kind of a parsed YAML document (``data``), using ``filename`` only when content is silent."""
    name = Path(filename).name.lower()
    if not isinstance(data, dict) or not data:
        if "alertmanager" in name:
            return Kind.ALERTMANAGER
        if "guardia" in name:
            return Kind.GUARDIA
        if "rule" in name or "alert" in name:
            return Kind.RULES
        return Kind.PROMETHEUS if data is None or data == {} else Kind.UNKNOWN
    keys = set(data)
    if "tests" in keys and ("rule_files" in keys or "evaluation_interval" in keys):
        return Kind.RULE_TESTS
    if "groups" in keys:
        return Kind.RULES
    if keys & ALERTMANAGER_KEYS:
        return Kind.ALERTMANAGER
    if keys & GUARDIA_KEYS:
        return Kind.GUARDIA
    glob = data.get("global")
    if isinstance(glob, dict) and glob:
        gk = set(glob)
        if gk & _AM_GLOBAL_KEYS and not gk & _PROM_GLOBAL_KEYS:
            return Kind.ALERTMANAGER
    if keys & PROMETHEUS_KEYS:
        return Kind.GUARDIA if "guardia" in name else Kind.PROMETHEUS
    return Kind.UNKNOWN
