"""Go text/template semantics as Prometheus and Alertmanager use them.

One implementation serves rule annotations (``prometheus_funcs``) and notification templates
(``alertmanager_funcs``), so a template behaves the same in both places and as in Go.

Layering: a leaf package.  It imports only the standard library and ``guardia.model``
(Go string quoting, durations), never a stage, so ``config`` (validating templates in rule
files and alertmanager.yml), ``rules`` (annotations) and ``alerting`` (notifications) may all
import it.  Queries reach it only as a ``query_func`` callable handed to ``prometheus_funcs``.
"""

from guardia.template.alertmanager import alertmanager_funcs
from guardia.template.builtins import SafeHTML, StringMap
from guardia.template.errors import TemplateError, TemplateFuncError
from guardia.template.gofmt import format_value, sprint, sprintf
from guardia.template.gotime import GoDuration, GoTime, as_go_time, go_time_format
from guardia.template.prometheus import (
    ALERT_DEFS,
    AlertTemplateData,
    QuerySample,
    check_alert_template,
    expand_alert_template,
    prometheus_funcs,
)
from guardia.template.template import ArgTypeError, Template

__all__ = [
    "ALERT_DEFS",
    "AlertTemplateData",
    "ArgTypeError",
    "GoDuration",
    "GoTime",
    "QuerySample",
    "SafeHTML",
    "StringMap",
    "Template",
    "TemplateError",
    "TemplateFuncError",
    "alertmanager_funcs",
    "as_go_time",
    "check_alert_template",
    "expand_alert_template",
    "format_value",
    "go_time_format",
    "prometheus_funcs",
    "sprint",
    "sprintf",
]
