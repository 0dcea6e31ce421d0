"""The files an audit reads, loaded once, with positions for every finding.

``guardia audit`` takes the files ``guardia check config`` takes (a prometheus.yml or
guardia.yml with the rule files and alertmanager config it references, alertmanager.yml and
rule files on their own); ``serve`` hands over its loaded ``Config``.  Either way the checks
see one ``AuditInput``: the scrape config, the rule files, the Alertmanager config (parsed
with placeholders as warnings, so a placeholder webhook is a finding rather than a refusal to
look at the routes), SLOs, probes, and the configuration errors that stopped anything from
loading.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from guardia.audit.finding import Finding, Severity
from guardia.config.alertmanager import AlertmanagerConfig, parse_alertmanager_config
from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.kinds import Kind
from guardia.config.loader import Config, check_file, load_config
from guardia.config.prometheus import PrometheusConfig
from guardia.config.rulefile import RuleFile
from guardia.config.schema import ValidationError
from guardia.config.yamlsource import YamlSource, load_yaml


@dataclass(slots=True)
class AuditInput:
    prometheus: PrometheusConfig | None = None
    prometheus_file: str = ""
    rules: list[RuleFile] = field(default_factory=list)
    alertmanager: AlertmanagerConfig | None = None
    alertmanager_file: str = ""
    alertmanager_base: FieldPath = ()  # ("alertmanager",) when inline in a guardia.yml
    slos: list[Any] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    web_config_file: str = ""
    files: list[str] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    placeholder_issues: list[ConfigIssue] = field(default_factory=list)
    _sources: dict[str, YamlSource | None] = field(default_factory=dict)

    # -- positions ---------------------------------------------------------------------------

    def source(self, file: str) -> YamlSource | None:
        if file not in self._sources:
            try:
                self._sources[file] = load_yaml(file) if file else None
            except (ConfigError, OSError):
                self._sources[file] = None
        return self._sources[file]

    def line(self, file: str, path: FieldPath) -> int | None:
        src = self.source(file)
        return src.mark(path)[0] if src is not None else None

    def rule_line(self, rf: RuleFile, gi: int, ri: int) -> int | None:
        return self.line(rf.file, ("groups", gi, "rules", ri))

    def am_line(self, path: FieldPath) -> int | None:
        return self.line(self.alertmanager_file, (*self.alertmanager_base, *path))

    def job_line(self, index: int) -> int | None:
        return self.line(self.prometheus_file, ("scrape_configs", index))

    # -- facts checks share --------------------------------------------------------------------

    def jobs(self) -> list[tuple[int, str, float]]:
        """(index, job name, scrape interval in seconds) of every scrape job."""
        if self.prometheus is None:
            return []
        g = self.prometheus.global_.scrape_interval / 1000
        return [(i, sc.job_name, (sc.scrape_interval or 0) / 1000 or g)
                for i, sc in enumerate(self.prometheus.scrape_configs)]

    def global_interval_s(self) -> float | None:
        return self.prometheus.global_.scrape_interval / 1000 if self.prometheus is not None else None

    def alert_names(self) -> set[str]:
        return {r.alert for rf in self.rules for g in rf.groups for r in g.rules if r.alert}


def _issue_finding(i: ConfigIssue) -> Finding:
    sev = Severity.BUG if i.severity == "error" else Severity.WARNING
    where = f"{i.path}: " if i.path else ""
    return Finding("config/invalid", sev, os.path.normpath(i.file), i.line, where + i.message, arg=i.path)


def _alertmanager_from(src: YamlSource) -> tuple[AlertmanagerConfig | None, list[ConfigIssue]]:
    """Parsed with placeholders as warnings; schema-only when something else is wrong."""
    try:
        am = parse_alertmanager_config(src, placeholders="warning")
        return am, list(am.warnings)
    except ConfigError as e:
        try:
            data = src.data if src.data is not None else {}
            return AlertmanagerConfig.model_validate(data).model_copy(update={"file": src.file}), e.issues
        except ValidationError:
            return None, e.issues


def _sub(src: YamlSource, prefix: FieldPath) -> YamlSource:
    n = len(prefix)
    data: Any = src.data
    for part in prefix:
        data = data[part]
    marks = {p[n:]: m for p, m in src.marks.items() if p[:n] == prefix}
    return YamlSource(src.file, data, marks)


def from_config(cfg: Config, web_config_file: str = "") -> AuditInput:
    """What ``serve`` audits: its running config (which loaded, so has no errors)."""
    inp = AuditInput(prometheus=cfg.prometheus, prometheus_file=cfg.file, rules=list(cfg.rules),
                     web_config_file=web_config_file)
    inp.files = [cfg.file, *cfg.rule_files]
    _attach_alertmanager(inp, cfg)
    _attach_sections(inp, cfg.file, cfg.kind)
    return inp


def _attach_alertmanager(inp: AuditInput, cfg: Config) -> None:
    if cfg.alertmanager_file:
        src = load_yaml(cfg.alertmanager_file)
        inp.alertmanager_file = cfg.alertmanager_file
        inp.files.append(cfg.alertmanager_file)
        am, issues = _alertmanager_from(src)
    elif cfg.alertmanager is not None:
        src = load_yaml(cfg.file)
        inp.alertmanager_file = cfg.file
        inp.alertmanager_base = ("alertmanager",)
        am, issues = _alertmanager_from(_sub(src, ("alertmanager",)))
        issues = [ConfigIssue(i.file, i.line, i.column, f"alertmanager.{i.path}", i.message, i.severity)
                  for i in issues]
    else:
        return
    inp.alertmanager = am
    inp.errors += [_issue_finding(i) for i in issues if "would never deliver" not in i.message
                   and i.severity == "error"]
    inp.placeholder_issues = [i for i in issues if "would never deliver" in i.message]


def _attach_sections(inp: AuditInput, file: str, kind: Kind) -> None:
    if kind is not Kind.GUARDIA:
        return
    src = inp.source(file)
    data = src.data if src is not None and isinstance(src.data, dict) else {}
    for p in data.get("probes") or []:
        if isinstance(p, dict) and p.get("name"):
            inp.probes.append(str(p["name"]))
    if data.get("slos"):
        from guardia.slo.load import load_config_slos

        with contextlib.suppress(ConfigError):
            inp.slos, _ = load_config_slos(file)


def from_files(paths: list[str]) -> AuditInput:
    """What ``guardia audit FILE...`` audits; config errors become ``config/invalid`` findings."""
    inp = AuditInput()
    seen_rules: set[str] = set()

    def add_rules(rfs: Any) -> None:
        for rf in rfs:
            real = os.path.realpath(rf.file)
            if real not in seen_rules:
                seen_rules.add(real)
                inp.rules.append(rf)
                inp.files.append(rf.file)

    for p in paths:
        p = os.path.normpath(p)
        res = check_file(p)
        inp.files.append(p)
        if res.kind in (Kind.PROMETHEUS, Kind.GUARDIA):
            try:
                cfg = load_config(p)
            except ConfigError as e:
                inp.errors += [_issue_finding(i) for i in e.issues if i.severity == "error"]
                add_rules(res.rules)
                continue
            inp.prometheus, inp.prometheus_file = cfg.prometheus, p
            add_rules(cfg.rules)
            if inp.alertmanager is None:
                _attach_alertmanager(inp, cfg)
            _attach_sections(inp, p, cfg.kind)
        elif res.kind is Kind.ALERTMANAGER and res.source is not None:
            am, issues = _alertmanager_from(res.source)
            inp.alertmanager, inp.alertmanager_file, inp.alertmanager_base = am, p, ()
            inp.errors += [_issue_finding(i) for i in issues
                           if i.severity == "error" and "would never deliver" not in i.message]
            inp.placeholder_issues = [i for i in issues if "would never deliver" in i.message]
        elif res.kind is Kind.RULES:
            inp.errors += [_issue_finding(i) for i in res.issues if i.severity == "error"]
            add_rules(res.rules)
        else:
            inp.errors += [_issue_finding(i) for i in res.issues if i.severity == "error"]
    inp.files = list(dict.fromkeys(inp.files))
    return inp
