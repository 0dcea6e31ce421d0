"""What ``guardia serve --agent`` refuses in a config, as Prometheus's agent refuses it: an agent
keeps no samples, so it has nothing to evaluate rules on or to answer reads from, and without
a ``remote_write`` endpoint what it scrapes would go nowhere."""

from __future__ import annotations

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.loader import Config
from guardia.config.yamlsource import load_yaml

_REFUSED = (
    ("rule_files", "evaluate rules where the samples are sent (the central store)"),
    ("alerting", "alerts come from the rules of the central store"),
    ("remote_read", "an agent answers no queries"),
)


def check_agent_config(cfg: Config) -> None:
    """Raise ``ConfigError`` (file, line, field, what to do) for what an agent cannot run."""
    prom = cfg.prometheus
    present = {"rule_files": bool(cfg.rule_files), "alerting": bool(prom.alerting.alertmanagers),
               "remote_read": bool(prom.remote_read)}
    try:
        src = load_yaml(cfg.file)
    except (OSError, ValueError):
        src = None

    def issue(key: str, message: str) -> ConfigIssue:
        if src is not None:
            return src.issue((key,), message, at_key=True)
        return ConfigIssue(cfg.file, None, None, key, message)

    issues = [issue(key, f"not allowed in agent mode: {why}; remove it or run without --agent")
              for key, why in _REFUSED if present[key]]
    if not prom.remote_write:
        issues.append(issue("remote_write", "agent mode needs at least one remote_write endpoint: the "
                                            "agent keeps no samples, it forwards them"))
    if issues:
        raise ConfigError(issues)
