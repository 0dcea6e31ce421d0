"""Service level objectives: error budgets, multi-window multi-burn-rate alerts, backtests.

SLOs come from guardia.yml's ``slos:``, sloth files (``prometheus/v1`` and
``sloth.slok.dev/v1``) and pyrra ``ServiceLevelObjective`` files, all read into one
``SLO`` value; ``generate`` turns it into rule groups the rule engine runs like any other.
"""

from guardia.slo.generate import rule_file, rule_groups, to_yaml
from guardia.slo.load import find, load_config_slos, load_file
from guardia.slo.period import BurnWindow, Period, burn_windows
from guardia.slo.spec import SLO, Alerting, AlertSpec, Indicator

__all__ = [
    "SLO",
    "AlertSpec",
    "Alerting",
    "BurnWindow",
    "Indicator",
    "Period",
    "burn_windows",
    "find",
    "load_config_slos",
    "load_file",
    "rule_file",
    "rule_groups",
    "to_yaml",
]
