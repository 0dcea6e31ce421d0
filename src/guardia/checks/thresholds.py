"""Inline thresholds (``warning: "> 50000"``) as ordinary alerting rules.

A check's thresholds become one rule group (``check:<name>``) in the generated rule file
``checks``, evaluated at the check's own interval, so the alerts go through the same routing,
silences, inhibition and receivers as every hand-written rule and show in ``/api/v1/rules``.
The alert is named after the check; ``severity`` is ``warning`` or ``critical``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from guardia.model.durations import format_duration

_THRESHOLD = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
SEVERITIES = ("warning", "critical")


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Threshold:
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_threshold(text: Any) -> Threshold:
    """``"> 50000"``, ``"<= 0.5"``: a comparison and a number, as PromQL writes it."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        raise ThresholdError(f"{text!r} has no comparison: write it as \"> {text}\" (or <, >=, <=, ==, !=)")
    m = _THRESHOLD.match(str(text))
    if m is None:
        raise ThresholdError(f"{text!r} is not a threshold: write a comparison and a number, such as "
                             "\"> 50000\" or \"<= 0.5\"")
    return Threshold(m.group(1), float(m.group(2)))


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def threshold_rules(name: str, interval_ms: int, for_ms: int, labels: dict[str, str],
                    thresholds: dict[str, Threshold], description: str = "") -> dict[str, Any]:
    """The rule group (as a rule file's YAML data) that alerts on one check's thresholds."""
    rules = []
    selector = "guardia_check_value{check=" + _quote(name) + "}"
    for severity in SEVERITIES:
        t = thresholds.get(severity)
        if t is None:
            continue
        rule: dict[str, Any] = {
            "alert": name,
            "expr": f"{selector} {t.op} {t.value!r}",
            "labels": {**labels, "severity": severity, "check": name},
            "annotations": {
                "summary": f"check {name}: {{{{ $value }}}} {t}",
                **({"description": description} if description else {}),
            },
        }
        if for_ms:
            rule["for"] = format_duration(for_ms)
        rules.append(rule)
    return {"name": f"check:{name}", "interval": format_duration(interval_ms), "rules": rules}
