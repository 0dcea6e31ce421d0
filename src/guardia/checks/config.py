"""The ``checks:`` section of a guardia.yml.

Each check has a ``name``, an ``interval``, a ``timeout``, ``labels`` and exactly one kind key
(``python``, ``sql`` or ``command``), plus optional inline thresholds (``warning``,
``critical``, ``for``).  A ``python: {module: pkg.mod}`` entry without a name loads every
function that module registers with ``@guardia.checks.check(...)``.  Every error names the
file, line, the field and the check, and a reload with an error keeps the running checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from guardia.checks.dora import DAY_MS, METRICS
from guardia.checks.dsn import DSN, DSNError, resolve_dsn
from guardia.checks.thresholds import SEVERITIES, Threshold, ThresholdError, parse_threshold
from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.fields import Duration, LabelSet, PromModel
from guardia.config.schema import Field, ValidationError, model_validator
from guardia.config.validate import issues_from
from guardia.config.yamlsource import YamlSource, load_yaml

DEFAULT_INTERVAL_MS = 60_000
DEFAULT_TIMEOUT_MS = 10_000
KINDS = ("python", "sql", "command", "dora")
# labels the series of a check carry themselves; a check's own labels may not take them
RESERVED_LABELS = frozenset({"__name__", "check"})


class PythonSpec(PromModel):
    """``function: "pkg.mod:func"`` (with ``args``/``kwargs``), or ``module: pkg.mod`` whose
    ``@check``-decorated functions are the checks.  ``path`` adds import folders (relative to
    the config file; the config's folder is always searched)."""

    function: str = ""
    module: str = ""
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)
    path: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one(self) -> PythonSpec:
        if bool(self.function) == bool(self.module):
            raise ValueError("give either function: \"package.module:function\" or module: package.module "
                             "(whose @guardia.checks.check functions are loaded), not both or neither")
        if self.function:
            mod, sep, fn = self.function.partition(":")
            if not sep or not mod or not fn.isidentifier():
                raise ValueError(f"function {self.function!r} must be \"package.module:function\"")
        elif self.args or self.kwargs:
            raise ValueError("args and kwargs go with function:, not module:")
        return self


class DSNRef(PromModel):
    from_env: str = ""
    from_file: str = ""


class SQLSpec(PromModel):
    """A query whose rows are labels (every column but the last) and one value (the last)."""

    dsn: DSNRef | str
    query: str

    @model_validator(mode="after")
    def _query(self) -> SQLSpec:
        if not self.query.strip():
            raise ValueError("query must be a SELECT whose last column is the value")
        return self


class CommandSpec(PromModel):
    """A Nagios/Icinga plugin: ``argv`` run without a shell; exit code and perfdata read."""

    argv: tuple[str, ...]
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _argv(self) -> CommandSpec:
        if not self.argv or not self.argv[0]:
            raise ValueError("argv must list the executable and its arguments, "
                             "e.g. [/usr/lib/nagios/plugins/check_disk, -w, 20%, -p, /]")
        return self


class DORASpec(PromModel):
    """The built-in DORA checks over recorded deployments (see ``checks/dora.py``); defaults
    are seed 004's: no deployment in 7 days is critical, a change failure rate over 20% a warning."""

    window: Duration = 30 * 86_400_000
    no_deployment_for: Duration = 7 * 86_400_000
    change_failure_rate: float = 0.2

    @model_validator(mode="after")
    def _ranges(self) -> DORASpec:
        if self.window < 86_400_000:
            raise ValueError("window must be at least 1d")
        if not 0 <= self.change_failure_rate <= 1:
            raise ValueError("change_failure_rate is a fraction between 0 and 1 (0.2 is 20%)")
        return self


@dataclass(frozen=True, slots=True)
class DORAMetric:
    """One of the checks a ``dora:`` entry stands for."""

    metric: str
    window_ms: int


class CheckSpec(PromModel):
    name: str = ""
    description: str = ""
    interval: Duration = DEFAULT_INTERVAL_MS
    timeout: Duration = 0  # not set: 10s, or the interval when that is shorter
    labels: LabelSet = Field(default_factory=dict)
    python: PythonSpec | None = None
    sql: SQLSpec | None = None
    command: CommandSpec | None = None
    dora: DORASpec | None = None
    warning: str | float | None = None
    critical: str | float | None = None
    for_: Duration = Field(default=0, alias="for")

    @model_validator(mode="after")
    def _shape(self) -> CheckSpec:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a check needs exactly one of python, sql, command or dora"
                             + (f" (got {', '.join(kinds)})" if kinds else ""))
        if not self.name and not (self.python is not None and self.python.module):
            raise ValueError("a check needs a name")
        if self.interval < 1000:
            raise ValueError("interval must be at least 1s")
        if not self.timeout:
            object.__setattr__(self, "timeout", min(DEFAULT_TIMEOUT_MS, self.interval))
        if self.timeout > self.interval:
            raise ValueError("timeout must be at most the interval")
        bad = sorted(RESERVED_LABELS & set(self.labels))
        if bad:
            raise ValueError(f"label {bad[0]!r} is set by guardia itself; choose another name")
        return self


@dataclass(frozen=True, slots=True)
class Check:
    """A validated check, what the runner schedules.  ``target`` is the kind's spec; for SQL
    the DSN is resolved (the secret read) at load time, so a missing variable is a config error."""

    name: str
    kind: str
    interval_ms: int
    timeout_ms: int
    labels: Mapping[str, str]
    target: PythonSpec | SQLSpec | CommandSpec | DORAMetric
    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: MappingProxyType({}))
    for_ms: int = 0
    description: str = ""
    dsn: DSN | None = None
    base_dir: str = "."


@dataclass(frozen=True, slots=True)
class ChecksConfig:
    checks: tuple[Check, ...] = ()
    # ``python: {module: ...}`` entries: expanded into checks when the runner imports them
    modules: tuple[tuple[CheckSpec, str], ...] = ()

    def by_name(self) -> dict[str, Check]:
        return {c.name: c for c in self.checks}


def _where(spec_name: str, i: int) -> str:
    return f"check {spec_name!r}" if spec_name else f"checks[{i}]"


def build_check(spec: CheckSpec, base_dir: str, environ: dict[str, str] | None = None) -> Check:
    """A ``Check`` from a validated spec; ``ValueError`` (with the field as ``.args[1]``) when a
    threshold or the DSN is wrong."""
    thresholds: dict[str, Threshold] = {}
    for sev in SEVERITIES:
        raw = getattr(spec, sev)
        if raw is not None:
            try:
                thresholds[sev] = parse_threshold(raw)
            except ThresholdError as e:
                raise ValueError(str(e), sev) from None
    if spec.for_ and not thresholds:
        raise ValueError("for applies to thresholds: add warning: or critical:", "for")
    kind = next(k for k in KINDS if getattr(spec, k) is not None)
    target: Any = getattr(spec, kind)
    dsn: DSN | None = None
    if isinstance(target, SQLSpec):
        ref = target.dsn
        try:
            dsn = (resolve_dsn(ref, None, None, base_dir, environ) if isinstance(ref, str)
                   else resolve_dsn(None, ref.from_env or None, ref.from_file or None, base_dir, environ))
        except DSNError as e:
            raise ValueError(str(e), "sql.dsn") from None
    return Check(spec.name, kind, spec.interval, spec.timeout, MappingProxyType(dict(spec.labels)), target,
                 MappingProxyType(thresholds), spec.for_, spec.description, dsn, base_dir)


def dora_checks(spec: CheckSpec, base_dir: str) -> list[Check]:
    """The five DORA checks of a ``dora:`` entry, with their default thresholds."""
    d = spec.dora
    assert d is not None
    thresholds = {
        "days_since_deployment": {"critical": Threshold(">", d.no_deployment_for / DAY_MS)},
        "change_failure_rate": {"warning": Threshold(">", d.change_failure_rate)},
    }
    labels = MappingProxyType(dict(spec.labels))
    return [Check(f"{spec.name}_{m}", "dora", spec.interval, spec.timeout, labels, DORAMetric(m, d.window),
                  MappingProxyType(thresholds.get(m, {})), spec.for_,
                  spec.description, None, base_dir) for m in METRICS]


def parse_checks(src: YamlSource, environ: dict[str, str] | None = None) -> ChecksConfig:
    """The ``checks:`` section of ``src`` (a guardia.yml); ``ConfigError`` lists every problem."""
    doc = src.data if isinstance(src.data, Mapping) else {}
    raw = doc.get("checks") or []
    issues: list[ConfigIssue] = []
    if not isinstance(raw, list):
        raise ConfigError([src.issue(("checks",), "checks must be a list of checks, each with a name")])
    base_dir = os.path.dirname(os.path.abspath(src.file)) if src.file else os.getcwd()
    checks: list[Check] = []
    modules: list[tuple[CheckSpec, str]] = []
    for i, entry in enumerate(raw):
        name = entry.get("name", "") if isinstance(entry, Mapping) else ""
        name = name if isinstance(name, str) else ""
        try:
            spec = CheckSpec.model_validate(entry)
        except ValidationError as e:
            for issue in issues_from(e, src, ("checks", i)):
                issues.append(replace(issue, message=f"{_where(name, i)}: {issue.message}"))
            continue
        if spec.dora is not None:
            if spec.warning is not None or spec.critical is not None:
                issues.append(src.issue(("checks", i, "warning" if spec.warning is not None else "critical"),
                                        f"{_where(name, i)}: a dora entry has its own thresholds "
                                        "(dora.no_deployment_for, dora.change_failure_rate)"))
                continue
            checks.extend(dora_checks(spec, base_dir))
            continue
        if spec.python is not None and spec.python.module:
            modules.append((spec, base_dir))
            continue
        try:
            checks.append(build_check(spec, base_dir, environ))
        except ValueError as e:
            fld = e.args[1] if len(e.args) > 1 else ""
            path = ("checks", i, *fld.split(".")) if fld else ("checks", i)
            issues.append(src.issue(path, f"{_where(name, i)}: {e.args[0]}"))
    if any(i.severity == "error" for i in issues):
        raise ConfigError(issues)
    return ChecksConfig(tuple(checks), tuple(modules))


def load_checks(config_file: str) -> ChecksConfig:
    """The ``checks:`` of the guardia.yml at ``config_file`` (empty when it has none)."""
    if not config_file:
        return ChecksConfig()
    return parse_checks(load_yaml(config_file))
