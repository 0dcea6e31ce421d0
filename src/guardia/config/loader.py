"""One entry point for configuration: load, resolve, check and reload.

``load_config`` reads a prometheus.yml or guardia.yml, the rule files it names and the
alertmanager config it embeds or points at, and returns one frozen ``Config``.  Paths
(``*_file`` secrets, TLS files, file_sd patterns, rule_files globs) are resolved against
the config file's directory, as Prometheus does.  Every problem in every file is collected
before anything is raised, so one run shows the whole list.  ``reload`` keeps the running
config when the new one does not validate, and says why.

``${VAR}`` is expanded only in ``external_labels`` values (Prometheus's expand-external-labels
behaviour, always on here; an unset variable is an error rather than an empty value).
Prometheus expands nothing else, so ``${VAR}`` in a password is reported with advice to use
the ``*_file`` field instead.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.guardia_file import GuardiaSections, parse_guardia_sections, split_guardia
from guardia.config.httpclient import Finding
from guardia.config.kinds import Kind, detect_kind
from guardia.config.paths import rebase_files
from guardia.config.prometheus import PrometheusConfig, parse_prometheus_config
from guardia.config.rulefile import RuleFile, parse_rule_file
from guardia.config.schema import Model, ValidationError
from guardia.config.secrets import SecretResolutionError, expand_env
from guardia.config.yamlsource import YamlSource, load_yaml

if TYPE_CHECKING:  # imported where an alertmanager section is read: ~0.4 MiB an agent never uses
    from guardia.config.alertmanager import AlertmanagerConfig

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``guardia serve`` runs from, validated and resolved; never mutated."""

    file: str
    kind: Kind
    prometheus: PrometheusConfig
    alertmanager: AlertmanagerConfig | None = None
    alertmanager_file: str | None = None
    rule_files: tuple[str, ...] = ()
    rules: tuple[RuleFile, ...] = ()
    sections: GuardiaSections = field(default_factory=GuardiaSections)
    warnings: tuple[ConfigIssue, ...] = ()

    @property
    def probes(self) -> tuple[Any, ...]:
        return self.sections.probes

    @property
    def checks(self) -> tuple[Any, ...]:
        return self.sections.checks

    @property
    def slos(self) -> tuple[Any, ...]:
        return self.sections.slos

    @property
    def web(self) -> Any:
        return self.sections.web


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``guardia check config`` reports for one file."""

    file: str
    kind: Kind
    issues: tuple[ConfigIssue, ...]
    # What the file defined, for checks that span files (``check_files``).
    rules: tuple[RuleFile, ...] = ()
    alertmanager: AlertmanagerConfig | None = None
    source: YamlSource | None = None

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)


# --- public API ----------------------------------------------------------------------------


def _unknown_sources(src: YamlSource, rf: RuleFile, prom: PrometheusConfig) -> list[ConfigIssue]:
    """Rule groups whose ``source:`` names no ``remote_read`` entry (docs/remote.md)."""
    names = sorted(rr.name for rr in prom.remote_read if rr.name)
    out = []
    for gi, g in enumerate(rf.groups):
        s = g.source
        if s is None or s == "local":
            continue
        name = s.split(":", 1)[1] if s.startswith(("promql:", "remote_read:")) else s
        if name not in names:
            known = f"the named ones: {', '.join(names)}" if names else "none has a name"
            out.append(src.issue(("groups", gi, "source"),
                                 f"source {s!r}: no remote_read entry is named {name!r} ({known}); add "
                                 f"`name: {name}` to the remote_read entry of the engine to query"))
    return out


def load_config(path: str | Path, *, proto_first: bool = False) -> Config:
    """Load a prometheus.yml or guardia.yml with everything it references; ``ConfigError`` on any error.

    ``proto_first``: jobs that set no ``scrape_protocols`` (nor does ``global``) ask for the
    protobuf format first, as Prometheus 3 does under ``--enable-feature=created-timestamp-zero-
    ingestion`` (created timestamps travel in protobuf only)."""
    cfg, issues, _ = _load(str(path), proto_first)
    if cfg is None:
        raise ConfigError(issues)
    return cfg


def reload(old: Config, path: str | Path | None = None) -> tuple[Config, ConfigError | None]:
    """Load the config again; on failure keep ``old`` and return the error that explains why."""
    try:
        return load_config(path if path is not None else old.file), None
    except ConfigError as e:
        return old, e


def check_file(path: str | Path) -> CheckResult:
    """Validate any supported file, detecting its kind; never raises for config problems."""
    p = str(path)
    try:
        src = load_yaml(p)
    except ConfigError as e:
        return CheckResult(p, Kind.UNKNOWN, tuple(e.issues))
    kind = detect_kind(src.data, p)
    issues: list[ConfigIssue]
    rules: list[RuleFile] = []
    am: AlertmanagerConfig | None = None
    if kind in (Kind.PROMETHEUS, Kind.GUARDIA):
        _, issues, rules = _load_source(src, kind)
    elif kind is Kind.ALERTMANAGER:
        from guardia.config.alertmanager import parse_alertmanager_config

        try:
            am = parse_alertmanager_config(src)
            issues = []
        except ConfigError as e:
            issues = e.issues
            am = _schema_only_alertmanager(src)
    elif kind is Kind.RULES:
        rf, issues = _parse_rule_file_cached(src)
        rules = [rf] if rf is not None else []
    elif kind is Kind.RULE_TESTS:
        issues = [src.issue((), "this is a rule unit test file, not a configuration; run it with "
                            "`guardia test rules`", severity="warning")]
    else:
        issues = [src.issue((), "cannot tell what kind of file this is: expected scrape_configs/global "
                            "(prometheus.yml), route/receivers (alertmanager.yml), groups (rule file) or "
                            "probes/alertmanager (guardia.yml) at the top level")]
    return CheckResult(p, kind, tuple(issues), tuple(rules), am, src)


def check_files(paths: Iterable[str | Path]) -> list[CheckResult]:
    """``check_file`` for each path, plus the checks that need several files together.

    An alertmanager.yml checked alongside rule files (named directly or through a
    prometheus.yml) is also checked against the alerts those rules define: inhibitions of
    alerts nobody defines, routes no defined alert can reach.
    """
    results = [check_file(p) for p in paths]
    rule_files: dict[str, RuleFile] = {}
    for r in results:
        for rf in r.rules:
            rule_files.setdefault(os.path.realpath(rf.file), rf)
    if not rule_files:
        return results
    out = []
    for r in results:
        if r.kind is Kind.ALERTMANAGER and r.alertmanager is not None and r.source is not None:
            from guardia.config.coherence import check_coherence

            extra = check_coherence(r.alertmanager, r.source, rule_files.values())
            r = CheckResult(r.file, r.kind, r.issues + tuple(extra), r.rules, r.alertmanager, r.source)
        out.append(r)
    return out


def _schema_only_alertmanager(src: YamlSource) -> AlertmanagerConfig | None:
    """The alertmanager.yml's routes and inhibitions even when, say, a secret is a placeholder."""
    from guardia.config.alertmanager import AlertmanagerConfig

    try:
        return AlertmanagerConfig.model_validate(src.data if src.data is not None else {})
    except ValidationError:
        return None


def dump_redacted(config: Config | Model) -> str:
    """The config as YAML with every secret shown as ``<secret>`` (for /api/v1/status/config)."""
    model = config.prometheus if isinstance(config, Config) else config
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    # Name first, as Prometheus prints a job (the HTTP client fields come first by inheritance).
    for key, name in (("scrape_configs", "job_name"), ("remote_write", "url"), ("remote_read", "url")):
        if isinstance(data.get(key), list):
            data[key] = [{name: e[name], **e} if name in e else e for e in data[key]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


# --- loading -------------------------------------------------------------------------------


def _load(path: str, proto_first: bool = False) -> tuple[Config | None, list[ConfigIssue], list[RuleFile]]:
    try:
        src = load_yaml(path)
    except ConfigError as e:
        return None, e.issues, []
    kind = detect_kind(src.data, path)
    if kind is Kind.ALERTMANAGER:
        return None, [src.issue((), "this is an alertmanager.yml; give guardia a prometheus.yml or "
                                "guardia.yml and reference it from there (alertmanager: {file: "
                                "alertmanager.yml})")], []
    if kind is Kind.RULES:
        return None, [src.issue((), "this is a rule file; list it under rule_files: in prometheus.yml or "
                                "guardia.yml")], []
    if kind is Kind.RULE_TESTS:
        return None, [src.issue((), "this is a rule unit test file; run it with `guardia test rules`")], []
    return _load_source(src, Kind.GUARDIA if kind is Kind.GUARDIA else Kind.PROMETHEUS, proto_first)


def _load_source(src: YamlSource, kind: Kind, proto_first: bool = False,
                 ) -> tuple[Config | None, list[ConfigIssue], list[RuleFile]]:
    data = src.data if src.data is not None else {}
    if not isinstance(data, dict):
        msg = "the file must be a YAML mapping of sections (global, scrape_configs, ...)"
        return None, [src.issue((), msg)], []
    base_dir = Path(src.file).parent
    prom_data, own = split_guardia(data)
    if own:
        kind = Kind.GUARDIA
    prom, issues = parse_prometheus_config(src, prom_data, proto_first=proto_first)
    sections, sec_issues = parse_guardia_sections(src, own)
    issues += sec_issues

    rule_paths: list[str] = []
    rules: list[RuleFile] = []
    if prom is not None:
        prom, findings = _resolve_paths(prom, base_dir)
        issues += [src.issue(p, m, severity=s) for p, m, s in findings]  # type: ignore[arg-type]
        prom, env_issues = _expand_external_labels(src, prom)
        issues += env_issues
        prom, sc_issues = _merge_scrape_config_files(src, prom, base_dir, proto_first)
        issues += sc_issues
        rule_paths, rule_issues = _expand_globs(src, "rule_files", prom.rule_files, base_dir, "rule")
        issues += rule_issues
        for rp in rule_paths:
            try:
                rsrc = load_yaml(rp)
            except ConfigError as e:
                issues += e.issues
                continue
            rf, r_issues = _parse_rule_file_cached(rsrc)
            issues += r_issues
            if rf is not None:
                rules.append(rf)
                issues += _unknown_sources(rsrc, rf, prom)

    am: AlertmanagerConfig | None = None
    am_file: str | None = None
    if sections.alertmanager_file is not None or sections.alertmanager_inline is not None:
        from guardia.config.alertmanager import parse_alertmanager_config
        from guardia.config.coherence import check_coherence
    if sections.alertmanager_file is not None:
        am_file = _join(base_dir, sections.alertmanager_file)
        if not os.path.isfile(am_file):
            issues.append(src.issue(("alertmanager", "file"), f"alertmanager file {am_file!r} does not exist "
                                    "(paths are relative to this file's directory)"))
        else:
            try:
                am_src = load_yaml(am_file)
                try:
                    am = parse_alertmanager_config(am_src)
                except ConfigError as e:
                    issues += e.issues
                if rules:
                    am_model = am or _schema_only_alertmanager(am_src)
                    if am_model is not None:
                        issues += check_coherence(am_model, am_src, rules)
            except ConfigError as e:
                issues += e.issues
    elif sections.alertmanager_inline is not None:
        am_src = _sub_source(src, ("alertmanager",))
        try:
            am = parse_alertmanager_config(am_src)
        except ConfigError as e:
            issues += [_prefixed(i, "alertmanager") for i in e.issues]
        am_model = am or _schema_only_alertmanager(am_src)
        if rules and am_model is not None:
            issues += [_prefixed(i, "alertmanager") for i in check_coherence(am_model, am_src, rules)]

    if prom is None or any(i.severity == "error" for i in issues):
        return None, issues, rules
    cfg = Config(
        file=src.file,
        kind=kind,
        prometheus=prom,
        alertmanager=am,
        alertmanager_file=am_file,
        rule_files=tuple(rule_paths),
        rules=tuple(rules),
        sections=sections,
        warnings=tuple(issues),
    )
    return cfg, issues, rules


_RULE_CACHE: dict[tuple[str, str], tuple[RuleFile | None, tuple[ConfigIssue, ...]]] = {}
_RULE_CACHE_MAX = 512


def _parse_rule_file_cached(src: YamlSource) -> tuple[RuleFile | None, list[ConfigIssue]]:
    """``parse_rule_file``, remembered by file name and exact content.

    A reload usually changes one file, and ``check config prometheus.yml alerts.yml`` meets
    the same rule file twice; checking every PromQL expression and template again is the
    slow part, and the result depends only on the text (``RuleFile`` is immutable).
    """
    try:
        text = Path(src.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        rf, issues = parse_rule_file(src)
        return rf, issues
    key = (src.file, text)
    hit = _RULE_CACHE.get(key)
    if hit is None:
        rf, issues = parse_rule_file(src)
        if len(_RULE_CACHE) >= _RULE_CACHE_MAX:
            _RULE_CACHE.clear()
        hit = _RULE_CACHE[key] = (rf, tuple(issues))
    return hit[0], list(hit[1])


def _sub_source(src: YamlSource, prefix: FieldPath) -> YamlSource:
    """The part of ``src`` under ``prefix`` as its own document, keeping positions."""
    n = len(prefix)
    data: Any = src.data
    for part in prefix:
        data = data[part]
    marks = {p[n:]: m for p, m in src.marks.items() if p[:n] == prefix}
    key_marks = {p[n:]: m for p, m in src.key_marks.items() if p[:n] == prefix}
    return YamlSource(src.file, data, marks, key_marks)


def _prefixed(issue: ConfigIssue, prefix: str) -> ConfigIssue:
    path = f"{prefix}.{issue.path}" if issue.path else prefix
    return ConfigIssue(issue.file, issue.line, issue.column, path, issue.message, issue.severity)


# --- path resolution -----------------------------------------------------------------------


def _resolve_paths(cfg: PrometheusConfig, base_dir: Path) -> tuple[PrometheusConfig, list[Finding]]:
    new, findings = rebase_files(cfg, base_dir)
    return new, findings


def _join(base_dir: Path, p: str) -> str:
    return p if os.path.isabs(p) else os.path.normpath(str(base_dir / p))


def _expand_external_labels(
    src: YamlSource, cfg: PrometheusConfig
) -> tuple[PrometheusConfig, list[ConfigIssue]]:
    """``${VAR}`` in external label values (Prometheus's expand-external-labels behaviour)."""
    labels = cfg.global_.external_labels
    if not any("${" in v for v in labels.values()):
        return cfg, []
    issues: list[ConfigIssue] = []
    out: dict[str, str] = {}
    for k, v in labels.items():
        try:
            out[k] = expand_env(v)
        except SecretResolutionError as e:
            issues.append(src.issue(("global", "external_labels", k),
                                    f"{e}; set it or write the value literally"))
            out[k] = v
    g = cfg.global_.model_copy(update={"external_labels": out})
    return cfg.model_copy(update={"global_": g}), issues


def _merge_scrape_config_files(
    src: YamlSource, prom: PrometheusConfig, base_dir: Path, proto_first: bool = False,
) -> tuple[PrometheusConfig, list[ConfigIssue]]:
    """Add the jobs of ``scrape_config_files`` (each file: only ``scrape_configs:``), as Prometheus does.

    Jobs there take the main file's global defaults, their paths are relative to their own
    file, and job names must be unique across all files.
    """
    if not prom.scrape_config_files:
        return prom, []
    issues: list[ConfigIssue] = []
    files, glob_issues = _expand_globs(src, "scrape_config_files", prom.scrape_config_files, base_dir,
                                       "scrape config")
    issues += glob_issues
    jobs = list(prom.scrape_configs)
    seen = {j.job_name: os.path.normpath(src.file) for j in jobs}
    for f in files:
        try:
            fsrc = load_yaml(f)
        except ConfigError as e:
            issues += e.issues
            continue
        data = fsrc.data if fsrc.data is not None else {}
        if not isinstance(data, dict) or set(data) - {"scrape_configs"}:
            extra = sorted(str(k) for k in data) if isinstance(data, dict) else []
            path: FieldPath = (next(k for k in extra if k != "scrape_configs"),) if extra else ()
            issues.append(fsrc.issue(path, "a scrape config file may only contain scrape_configs:",
                                     at_key=bool(path)))
            continue
        sub, sub_issues = parse_prometheus_config(
            fsrc, {"global": prom.global_, "scrape_configs": data.get("scrape_configs") or []},
            proto_first=proto_first)
        issues += [i for i in sub_issues if i.path.startswith("scrape_configs")]
        if sub is None:
            continue
        sub, findings = _resolve_paths(sub, Path(f).parent)
        issues += [fsrc.issue(p, m, severity=s) for p, m, s in findings]  # type: ignore[arg-type]
        for i, job in enumerate(sub.scrape_configs):
            if job.job_name in seen:
                issues.append(fsrc.issue(("scrape_configs", i, "job_name"),
                                         f"found multiple scrape configs with job name {job.job_name!r} "
                                         f"(also in {seen[job.job_name]}); job names must be unique"))
            else:
                seen[job.job_name] = f
                jobs.append(job)
    return prom.model_copy(update={"scrape_configs": tuple(jobs)}), issues


def _expand_globs(
    src: YamlSource, key: str, patterns: tuple[str, ...], base_dir: Path, what: str
) -> tuple[list[str], list[ConfigIssue]]:
    found: list[str] = []
    issues: list[ConfigIssue] = []
    for i, raw in enumerate(patterns):
        pattern = _join(base_dir, raw)
        if _GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                issues.append(src.issue((key, i), f"{key} pattern {pattern!r} matches no files; no {what}s "
                                        "will be loaded from it", severity="warning"))
        elif os.path.isfile(pattern):
            matches = [pattern]
        else:
            issues.append(src.issue((key, i), f"{what} file {pattern!r} does not exist (paths are "
                                    "relative to the config file's directory)"))
            matches = []
        for m in matches:
            if m not in found:
                found.append(m)
    return found, issues
