"""The relabel rule model shared by relabel_configs, metric_relabel_configs and write_relabel_configs.

The actions and defaults are the engine's (``guardia.model.relabel``); this module reads and
checks them from YAML.

Defaults, per-action requirements and error wording follow Prometheus, so a rule file that
``promtool check config`` accepts is accepted here and one it refuses is refused with the
same reason.  The regular expression is compiled once, at validation, fully anchored and
with ``.`` matching newlines, the way Prometheus compiles ``^(?s:<regex>)$``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from guardia.config.scalars import scalar_text
from guardia.config.schema import PrivateAttr, field_validator, model_validator
from guardia.config.validate import StrictModel
from guardia.model.labels import is_valid_label_name
from guardia.model.matchers import MatcherError, compile_anchored
from guardia.model.relabel import DEFAULT_REGEX, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR, RelabelAction

# A target_label of the replace action may contain ``$1``/``${name}`` references; Prometheus
# accepts it when it is a label name after such references (its ``relabelTarget`` rule).
_RELABEL_TARGET_RE = re.compile(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$")
# A replacement of labelmap may likewise reference groups.
_TEMPLATE_VAR_RE = re.compile(r"\$(?:\{\w+\}|\w+)")

_NEEDS_TARGET = {
    RelabelAction.REPLACE,
    RelabelAction.HASHMOD,
    RelabelAction.LOWERCASE,
    RelabelAction.UPPERCASE,
    RelabelAction.KEEPEQUAL,
    RelabelAction.DROPEQUAL,
}
_NO_REPLACEMENT = {
    RelabelAction.LOWERCASE,
    RelabelAction.UPPERCASE,
    RelabelAction.KEEPEQUAL,
    RelabelAction.DROPEQUAL,
}


def _q(value: object) -> str:
    """Quote like Go's %q, so messages read exactly as Prometheus's."""
    return json.dumps(str(value), ensure_ascii=False)


class RelabelConfig(StrictModel):
    """One relabel step; ``compiled`` is the anchored regex the relabel engine uses."""

    source_labels: tuple[str, ...] | None = None
    separator: str = DEFAULT_SEPARATOR
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    action: RelabelAction = RelabelAction.REPLACE

    _compiled: re.Pattern[str] = PrivateAttr()

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, v: Any) -> Any:
        # Prometheus lower-cases the action before looking it up.
        if isinstance(v, str):
            low = v.lower()
            if low not in RelabelAction._value2member_map_:
                names = ", ".join(a.value for a in RelabelAction)
                raise ValueError(f"unknown relabel action {_q(v)}; use one of {names}")
            return low
        return v

    @field_validator("regex", mode="before")
    @classmethod
    def _regex(cls, v: Any) -> Any:
        # YAML may hand over a number or bool (regex: 200); Prometheus reads it as text.
        text = scalar_text(v)
        return v if text is None or v is None else text

    @field_validator("source_labels", mode="before")
    @classmethod
    def _source_labels(cls, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, str):
            raise ValueError("source_labels must be a list of label names, e.g. [__meta_x, job]")
        if isinstance(v, list | tuple):
            for name in v:
                if not isinstance(name, str) or not is_valid_label_name(name):
                    raise ValueError(f"{_q(name)} is not a valid label name")
        return v

    @field_validator("modulus")
    @classmethod
    def _modulus(cls, v: int) -> int:
        if v < 0 or v >= 2**64:
            raise ValueError("modulus must be a non-negative integer below 2^64")
        return v

    @model_validator(mode="after")
    def _check(self) -> RelabelConfig:
        a = self.action
        if a is RelabelAction.HASHMOD and self.modulus == 0:
            raise ValueError("relabel configuration for hashmod requires non-zero modulus")
        if a in _NEEDS_TARGET and self.target_label == "":
            raise ValueError(f"relabel configuration for {a.value} action requires 'target_label' value")
        if a is RelabelAction.REPLACE and not _RELABEL_TARGET_RE.match(self.target_label):
            raise ValueError(f"{_q(self.target_label)} is invalid 'target_label' for {a.value} action")
        if (a in _NO_REPLACEMENT or a is RelabelAction.HASHMOD) and not is_valid_label_name(
            self.target_label
        ):
            raise ValueError(f"{_q(self.target_label)} is invalid 'target_label' for {a.value} action")
        case_action = a in (RelabelAction.LOWERCASE, RelabelAction.UPPERCASE)
        if case_action and self.replacement != DEFAULT_REPLACEMENT:
            raise ValueError(f"'replacement' can not be set for {a.value} action")
        if (
            a is RelabelAction.LABELMAP
            and not _TEMPLATE_VAR_RE.search(self.replacement)
            and not is_valid_label_name(self.replacement)
        ):
            raise ValueError(f"{_q(self.replacement)} is invalid 'replacement' for {a.value} action")
        if a in (RelabelAction.KEEPEQUAL, RelabelAction.DROPEQUAL) and (
            self.regex != DEFAULT_REGEX
            or self.modulus != 0
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            raise ValueError(
                f"{a.value} action requires only 'source_labels' and `target_label`, and no other fields"
            )
        if a in (RelabelAction.LABELDROP, RelabelAction.LABELKEEP) and (
            self.source_labels is not None
            or self.target_label != ""
            or self.modulus != 0
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            raise ValueError(f"{a.value} action requires only 'regex', and no other fields")
        try:
            self._compiled = compile_anchored(self.regex)
        except MatcherError as e:
            raise ValueError(str(e)) from None
        return self

    @property
    def compiled(self) -> re.Pattern[str]:
        """The regex; use ``fullmatch`` (Prometheus anchors it at both ends)."""
        return self._compiled

    @property
    def sources(self) -> tuple[str, ...]:
        return self.source_labels or ()
