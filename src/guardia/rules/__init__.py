"""Recording and alerting rules evaluated as Prometheus 3 does, and promtool-style rule tests."""

from guardia.rules.alerting import Alert, AlertingRule, AlertState
from guardia.rules.api import RulesFilterError, alerts_data, rules_data
from guardia.rules.group import Group, GroupOptions
from guardia.rules.manager import RuleManager
from guardia.rules.notifier import Notifier, alert_relabeler, targets_from_config
from guardia.rules.query import QueryFunc, RuleQueryError, engine_query_func
from guardia.rules.recording import RecordingRule

__all__ = [
    "Alert",
    "AlertState",
    "AlertingRule",
    "Group",
    "GroupOptions",
    "Notifier",
    "QueryFunc",
    "RecordingRule",
    "RuleManager",
    "RuleQueryError",
    "RulesFilterError",
    "alert_relabeler",
    "alerts_data",
    "engine_query_func",
    "rules_data",
    "targets_from_config",
]
