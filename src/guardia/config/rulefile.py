"""Rule files (``groups:`` of recording and alerting rules) as Prometheus 3 reads them.

Checks follow Prometheus's rule-file validation: a rule is either ``record`` or ``alert``,
its ``expr`` parses as PromQL, recording rules carry no ``for``/``keep_firing_for``/
``annotations`` and are named like metrics, label names are valid, group names are unique
in a file.  Like ``promtool check rules``, rules with the same name and labels are reported
as warnings (they compete for the same series but Prometheus loads them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.fields import (
    Duration,
    IndexMap,
    PromModel,
    remap_path,
    validate_salvaging,
)
from guardia.config.scalars import item_text, scalar_text
from guardia.config.schema import Field, NonNegativeInt, PrivateAttr, field_validator
from guardia.config.yamlsource import YamlSource, load_yaml
from guardia.model.labels import METRIC_NAME, is_valid_label_name, is_valid_metric_name


def _text(v: Any) -> Any:
    """YAML hands ``expr: 1`` over as a number; Prometheus reads it as text."""
    text = scalar_text(v)
    return v if text is None or v is None else text


def _text_map(v: Any) -> Any:
    """Label and annotation values as Prometheus reads them: ``true``, ``1.50``, ``0x1F`` as written.

    Mappings and lists are left for the schema to refuse, with the position of the value.
    """
    if isinstance(v, dict):
        return {k: v[k] if (t := item_text(v, k)) is None else t for k in v}
    return v


class Rule(PromModel):
    """One rule: ``name`` is the record or alert name, whichever is set."""

    record: str | None = None
    alert: str | None = None
    expr: str = ""
    for_: Duration = Field(default=0, alias="for")
    keep_firing_for: Duration = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    _text_fields = field_validator("record", "alert", "expr", mode="before")(_text)
    _text_maps = field_validator("labels", "annotations", mode="before")(_text_map)

    @property
    def name(self) -> str:
        return self.record if self.record is not None else (self.alert or "")

    @property
    def is_alerting(self) -> bool:
        return self.alert is not None


SOURCE_RE = re.compile(r"local|(promql:|remote_read:)?[A-Za-z0-9_.\-]+")


class RuleGroup(PromModel):
    name: str = ""
    interval: Duration | None = None
    query_offset: Duration | None = None
    limit: NonNegativeInt = 0
    labels: dict[str, str] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    # guardia's extension: where the group's queries run (docs/remote.md); None: guardia's store
    source: str | None = None

    _text_maps = field_validator("labels", mode="before")(_text_map)

    def interval_ms(self, default_ms: int) -> int:
        """The evaluation interval: the group's own, else the global ``evaluation_interval``."""
        return self.interval if self.interval else default_ms


class RuleFile(PromModel):
    groups: tuple[RuleGroup, ...] = ()
    _file: str = PrivateAttr(default="")

    @property
    def file(self) -> str:
        """The path this file was loaded from (for messages and the rules API)."""
        return self._file


def expr_error(expr: str) -> str | None:
    """What is wrong with a rule's ``expr`` (parse error or result type), or None.

    The engine's own parser is used, so a rule accepted here is one the engine can run; it
    reports positions and wording as Prometheus does (``1:16: parse error: ...``).
    """
    # Imported here: the engine is only needed when a rule file is actually checked.
    from guardia.promql import ParseError, parse
    from guardia.promql.plan import value_type

    try:
        node = parse(expr)
    except ParseError as e:
        return f"could not parse expression: {str(e) or 'invalid PromQL'}"
    kind = value_type(node)
    if kind in ("matrix", "string"):
        what = "a range vector" if kind == "matrix" else "a string"
        return (f"expression returns {what}, but a rule needs an instant vector or a scalar "
                "(wrap a range in a function such as rate() or avg_over_time())")
    return None


def _check_labels(labels: dict[str, str], base: FieldPath, what: str) -> list[tuple[FieldPath, str, str]]:
    out = []
    for k in labels:
        if not is_valid_label_name(k) or (what == "label" and k == METRIC_NAME):
            out.append(((*base, k), f"invalid {what} name: {k}", "error"))
    return out


def check_rule_file(
    rf: RuleFile, index_map: IndexMap | None = None, expr_check: Callable[[str], str | None] | None = None
) -> list[tuple[FieldPath, str, str]]:
    """Prometheus's rule-file rules; ``index_map`` maps a salvaged document's indices back."""
    out: list[tuple[FieldPath, str, str]] = []
    seen_groups: dict[str, int] = {}
    imap = index_map or {}
    for i, g in enumerate(rf.groups):
        gi = int(remap_path(("groups", i), imap)[1])
        gp: FieldPath = ("groups", gi)
        if not g.name:
            out.append(((*gp, "name"), "Groupname must not be empty", "error"))
        elif g.name in seen_groups:
            out.append(((*gp, "name"), f'groupname: "{g.name}" is repeated in the same file '
                        f"(first at groups[{seen_groups[g.name]}])", "error"))
        else:
            seen_groups[g.name] = gi
        out.extend(_check_labels(g.labels, (*gp, "labels"), "label"))
        if g.source is not None and not SOURCE_RE.fullmatch(g.source):
            out.append(((*gp, "source"), f"source {g.source!r} is not a query source: write local, the "
                        "name of a remote_read entry (its engine's PromQL API), promql:NAME or "
                        "remote_read:NAME", "error"))
        for j, r in enumerate(g.rules):
            ri = int(remap_path(("groups", i, "rules", j), imap)[3])
            out.extend(_check_rule(r, (*gp, "rules", ri), g.name, ri, expr_check or expr_error))
    out.extend((remap_path(p, imap), m, s) for p, m, s in _duplicates(rf))
    return out


def _check_rule(r: Rule, rp: FieldPath, group: str, index: int,
                expr_check: Callable[[str], str | None]) -> list[tuple[FieldPath, str, str]]:
    out: list[tuple[FieldPath, str, str]] = []
    where = f'group "{group}", rule {index + 1}'
    if r.record is not None and r.alert is not None:
        out.append(((*rp, "alert"), f"{where}: only one of 'record' and 'alert' must be set", "error"))
    elif r.record is None and r.alert is None:
        out.append((rp, f"{where}: one of 'record' or 'alert' must be set", "error"))
    if not r.expr.strip():
        out.append(((*rp, "expr"), f"{where}: field 'expr' must be set in rule", "error"))
    else:
        err = expr_check(r.expr)
        if err:
            out.append(((*rp, "expr"), f'{where}, "{r.name}": {err}', "error"))
    if r.record is not None and r.alert is None:
        if r.annotations:
            out.append(((*rp, "annotations"), f"{where}: invalid field 'annotations' in recording rule",
                        "error"))
        if r.for_:
            out.append(((*rp, "for"), f"{where}: invalid field 'for' in recording rule", "error"))
        if r.keep_firing_for:
            out.append(((*rp, "keep_firing_for"),
                        f"{where}: invalid field 'keep_firing_for' in recording rule", "error"))
        if not is_valid_metric_name(r.record):
            out.append(((*rp, "record"), f"{where}: invalid recording rule name: {r.record!r} (metric names "
                        "use letters, digits, _ and :, not starting with a digit)", "error"))
    if r.alert is not None and r.alert.strip() == "":
        out.append(((*rp, "alert"), f"{where}: alert name must not be empty", "error"))
    out.extend(_check_labels(r.labels, (*rp, "labels"), "label"))
    out.extend(_check_labels(r.annotations, (*rp, "annotations"), "annotation"))
    if r.alert:
        out.extend(_check_templates(r, rp, f'{where}, "{r.name}"'))
    return out


def _check_templates(r: Rule, rp: FieldPath, where: str) -> list[tuple[FieldPath, str, str]]:
    """Alert labels and annotations are Go templates; a broken one fails every evaluation."""
    # Imported here: only rule files with alerting rules need the template engine.
    from guardia.template import check_alert_template

    out: list[tuple[FieldPath, str, str]] = []
    for kind, values in (("label", r.labels), ("annotation", r.annotations)):
        for k, v in values.items():
            if "{{" not in v:
                continue
            err = check_alert_template(v, r.name)
            if err:
                out.append(((*rp, f"{kind}s", k), f'{where}: {kind} "{k}": {err}', "error"))
    return out


def _duplicates(rf: RuleFile) -> list[tuple[FieldPath, str, str]]:
    """Rules with the same name and labels in one file, as ``promtool check rules`` lints them."""
    first: dict[tuple[str, tuple[tuple[str, str], ...]], FieldPath] = {}
    out: list[tuple[FieldPath, str, str]] = []
    for gi, g in enumerate(rf.groups):
        for ri, r in enumerate(g.rules):
            if not r.name:
                continue
            key = (r.name, tuple(sorted(r.labels.items())))
            path: FieldPath = ("groups", gi, "rules", ri)
            if key in first:
                f = first[key]
                out.append((path, f"duplicate rule: {r.name!r} with the same labels as groups[{f[1]}].rules"
                            f"[{f[3]}]; both write the same series, which makes results inconsistent",
                            "warning"))
            else:
                first[key] = path
    return out


def parse_rule_file(src: YamlSource, expr_check: Callable[[str], str | None] | None = None,
                    ) -> tuple[RuleFile | None, list[ConfigIssue]]:
    """Validate a rule file; the result is None when any issue is an error.

    ``expr_check`` checks each ``expr`` (PromQL by default; Loki ruler files pass LogQL's)."""
    data = src.data if src.data is not None else {}
    if not isinstance(data, dict):
        return None, [src.issue((), "a rule file must be a mapping with a 'groups' list")]
    rf, schema, index_map = validate_salvaging(RuleFile, data, src)
    if rf is None:
        return None, schema
    findings = check_rule_file(rf, index_map, expr_check)
    if schema:
        # Warnings about a salvaged document may only reflect the parts set aside.
        findings = [f for f in findings if f[2] == "error"]
    issues = schema + [
        src.issue(p, m, severity=s)  # type: ignore[arg-type]
        for p, m, s in findings
    ]
    if any(i.severity == "error" for i in issues):
        return None, issues
    rf._file = src.file
    return rf, issues


def load_rule_file(path: str | Path, expr_check: Callable[[str], str | None] | None = None) -> RuleFile:
    """Read and validate one rule file; ``ConfigError`` lists every problem."""
    rf, issues = parse_rule_file(load_yaml(path), expr_check)
    if rf is None:
        raise ConfigError(issues)
    return rf
