"""alertmanager.yml as Alertmanager 0.27 reads it, validated with positions.

The models mirror Alertmanager's configuration (global, route tree, receivers, inhibit
rules, time intervals, templates).  ``parse_alertmanager_config`` validates the schema,
then runs the cross-field checks Alertmanager runs (receivers defined, root route
shape, time intervals defined, ...), then fills receiver settings from ``global`` the way
Alertmanager does, so runtime code reads one resolved value per field.  Placeholder secrets
and URLs (``YOUR/WEBHOOK/URL``) are reported as errors for the receiver that uses them:
such a receiver looks configured and delivers nothing.

Each receiver integration (its model, its checks and its global defaults) is a module of
``guardia.config.receivers``, registered in its ``INTEGRATIONS`` table; the matcher grammar is
``guardia.model.am_matchers``.
"""

from __future__ import annotations

import glob
import re
import types
from pathlib import Path
from typing import Annotated, Any, TypeVar

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.fields import Duration
from guardia.config.httpclient import Finding, check_http_client
from guardia.config.paths import config_dir, rebase_files
from guardia.config.placeholders import placeholder_reason
from guardia.config.receivers import INTEGRATIONS, UNSUPPORTED
from guardia.config.receivers.base import GlobalConfig, HTTPConfig, NotifierConfig
from guardia.config.scalars import describe, item_text
from guardia.config.schema import BeforeValidator, Field, PlainSerializer, ValidationError
from guardia.config.secrets import Secret, SecretResolutionError, expand_env, read_secret_file
from guardia.config.validate import StrictModel, issues_from
from guardia.config.yamlsource import YamlSource, load_yaml
from guardia.model.am_matchers import parse_am_matchers, sort_matchers
from guardia.model.labels import is_valid_label_name
from guardia.model.matchers import Matcher, MatcherError, MatchType

# --------------------------------------------------------------------------- matchers


def _matchers_field(v: Any) -> list[Matcher]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError('must be a list of matcher strings such as ["severity=\\"critical\\""]')
    out: list[Matcher] = []
    for item in v:
        if isinstance(item, Matcher):
            out.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"matcher {item!r} must be a string such as 'severity=\"critical\"'")
        try:
            out.extend(parse_am_matchers(item))
        except MatcherError as e:
            raise ValueError(str(e)) from None
    return sort_matchers(out)


Matchers = Annotated[
    list[Matcher],
    BeforeValidator(_matchers_field),
    PlainSerializer(lambda ms: [str(m) for m in ms], return_type=list),
]


def _label_map(v: Any) -> dict[str, str]:
    """``match:``-style maps; values are read as Alertmanager reads them (``true`` is "true")."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("must be a map of label name to value")
    out: dict[str, str] = {}
    for k in v:
        if not isinstance(k, str) or not is_valid_label_name(k):
            raise ValueError(f'"{k}" is not a valid label name')
        text = item_text(v, k)
        if text is None:
            raise ValueError(f'label "{k}" must have one value, not {describe(v[k])}')
        out[k] = text
    return out


def _regex_map(v: Any) -> dict[str, str]:
    out = _label_map(v)
    for k, pat in out.items():
        try:
            Matcher(k, MatchType.REGEX, pat)
        except MatcherError as e:
            raise ValueError(f"{k}: {e}") from None
    return out


LabelMap = Annotated[dict[str, str], BeforeValidator(_label_map)]
RegexMap = Annotated[dict[str, str], BeforeValidator(_regex_map)]


class Model(StrictModel):
    """Base of the alertmanager.yml models."""


# --------------------------------------------------------------------------- http / global


# --------------------------------------------------------------------------- receivers


def _with_integration_fields(cls: type[_R]) -> type[_R]:
    """One ``NAME_configs`` list per integration of the table (and per integration guardia
    refuses), so a new integration module needs no field here.  Fields are compiled on first
    use, after this has run."""
    for integration in INTEGRATIONS.values():
        cls.__annotations__[integration.field] = types.GenericAlias(list, integration.model)
        setattr(cls, integration.field, Field(default_factory=list))
    for kind in UNSUPPORTED:
        cls.__annotations__[f"{kind}_configs"] = list[Any] | None
        setattr(cls, f"{kind}_configs", None)
    return cls


_R = TypeVar("_R", bound=Model)


@_with_integration_fields
class Receiver(Model):
    """A named receiver; its integrations' fields (``webhook_configs``, ...) come from the table
    in ``guardia.config.receivers``."""

    name: str

    def integrations(self) -> list[tuple[str, int, NotifierConfig]]:
        """``(integration name, index, config)`` for every configured integration."""
        out: list[tuple[str, int, NotifierConfig]] = []
        for kind, integration in INTEGRATIONS.items():
            for i, c in enumerate(getattr(self, integration.field)):
                out.append((kind, i, c))
        return out


# --------------------------------------------------------------------------- route / inhibit / time


class EscalationStep(Model):
    """guardia's own (Alertmanager has none): notify ``receiver`` too once the route's group has
    fired unacknowledged for ``after``."""

    after: Duration = 0
    receiver: str = ""


class Route(Model):
    receiver: str | None = None
    group_by: list[str] | None = None
    continue_: bool = Field(default=False, alias="continue")
    match: LabelMap = Field(default_factory=dict)
    match_re: RegexMap = Field(default_factory=dict)
    matchers: Matchers = Field(default_factory=list)
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    escalate: list[EscalationStep] = Field(default_factory=list)

    def all_matchers(self) -> list[Matcher]:
        """Legacy ``match``/``match_re`` and ``matchers`` together, in Alertmanager's order.

        ``match_re`` values carry the anchors Alertmanager adds (``^(?:re)$``): they show in
        route keys, hence in group keys, and must be spelled the same to match its nflog.
        """
        ms = [Matcher(k, MatchType.EQUAL, v) for k, v in self.match.items()]
        ms += [Matcher(k, MatchType.REGEX, f"^(?:{v})$") for k, v in self.match_re.items()]
        return sort_matchers(ms + list(self.matchers))


class InhibitRule(Model):
    source_match: LabelMap = Field(default_factory=dict)
    source_match_re: RegexMap = Field(default_factory=dict)
    source_matchers: Matchers = Field(default_factory=list)
    target_match: LabelMap = Field(default_factory=dict)
    target_match_re: RegexMap = Field(default_factory=dict)
    target_matchers: Matchers = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)

    def sources(self) -> list[Matcher]:
        ms = [Matcher(k, MatchType.EQUAL, v) for k, v in self.source_match.items()]
        ms += [Matcher(k, MatchType.REGEX, v) for k, v in self.source_match_re.items()]
        return ms + list(self.source_matchers)

    def targets(self) -> list[Matcher]:
        ms = [Matcher(k, MatchType.EQUAL, v) for k, v in self.target_match.items()]
        ms += [Matcher(k, MatchType.REGEX, v) for k, v in self.target_match_re.items()]
        return ms + list(self.target_matchers)


_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_HHMM = re.compile(r"^(\d{2}):(\d{2})$")


def _ranges(v: Any, what: str, lo: int, hi: int, names: list[str] | None, allow_negative: bool = False
            ) -> list[tuple[int, int]]:
    if not isinstance(v, list):
        raise ValueError(f"{what} must be a list of ranges such as '1:5'")
    out = []
    for i, item in enumerate(v):
        raw = item_text(v, i)
        if raw is None:
            raise ValueError(f"each {what[:-1]} range must be text such as '1:5', not {describe(item)}")
        text = raw.strip().lower()
        parts = text.split(":")
        if len(parts) > 2:
            raise ValueError(f"invalid range {item!r}")

        def one(p: str, text: str = text) -> int:
            if names is not None and p in names:
                return names.index(p) + (0 if what == "weekdays" else 1)
            try:
                n = int(p)
            except ValueError:
                raise ValueError(f"{p!r} is not a valid {what[:-1]}") from None
            if allow_negative and -hi <= n <= -1:
                return n
            if not lo <= n <= hi:
                raise ValueError(f"{what[:-1]} {n} out of range {lo}..{hi} in {text!r}")
            return n

        a = one(parts[0])
        b = one(parts[-1])
        if (a >= 0) == (b >= 0) and a > b:
            raise ValueError(f"start of range {item!r} is after its end")
        out.append((a, b))
    return out


def _times(v: Any) -> list[tuple[int, int]]:
    if not isinstance(v, list):
        raise ValueError("times must be a list of {start_time, end_time}")
    out = []
    for item in v:
        if not isinstance(item, dict) or set(item) - {"start_time", "end_time"}:
            raise ValueError("each time range needs exactly start_time and end_time")
        mins = []
        for key in ("start_time", "end_time"):
            # item_text: YAML 1.1 reads an unquoted 10:30 as the number 630; Go reads "10:30".
            m = _HHMM.match((item_text(item, key) or "") if key in item else "")
            if not m:
                raise ValueError(f"{key} must be HH:MM (24h), got {item.get(key)!r}")
            h, mi = int(m.group(1)), int(m.group(2))
            if h > 24 or mi > 59 or (h == 24 and mi != 0):
                raise ValueError(f"{key} {item.get(key)!r} is not a valid time of day")
            mins.append(h * 60 + mi)
        if mins[0] >= mins[1]:
            raise ValueError("start_time must be before end_time")
        out.append((mins[0], mins[1]))
    return out


class TimeInterval(Model):
    """One interval; every given field must match (lists within a field are alternatives)."""

    times: Annotated[list[tuple[int, int]], BeforeValidator(_times)] = Field(default_factory=list)
    weekdays: Annotated[
        list[tuple[int, int]], BeforeValidator(lambda v: _ranges(v, "weekdays", 0, 6, _WEEKDAYS))
    ] = Field(default_factory=list)
    days_of_month: Annotated[
        list[tuple[int, int]], BeforeValidator(lambda v: _ranges(v, "days", 1, 31, None, True))
    ] = Field(default_factory=list)
    months: Annotated[
        list[tuple[int, int]], BeforeValidator(lambda v: _ranges(v, "months", 1, 12, _MONTHS))
    ] = Field(default_factory=list)
    years: Annotated[
        list[tuple[int, int]], BeforeValidator(lambda v: _ranges(v, "years", 1, 9999, None))
    ] = Field(default_factory=list)
    location: str | None = None


class NamedTimeInterval(Model):
    name: str
    time_intervals: list[TimeInterval] = Field(default_factory=list)


class AlertmanagerConfig(Model):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    route: Route | None = None
    receivers: list[Receiver] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    mute_time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    templates: list[str] = Field(default_factory=list)

    file: str = Field(default="", exclude=True)
    template_files: list[str] = Field(default_factory=list, exclude=True)
    original: str = Field(default="", exclude=True)
    warnings: tuple[ConfigIssue, ...] = Field(default=(), exclude=True)

    def receiver(self, name: str) -> Receiver | None:
        for r in self.receivers:
            if r.name == name:
                return r
        return None

    def intervals(self) -> dict[str, list[TimeInterval]]:
        """All named time intervals (``time_intervals`` and the deprecated top-level list)."""
        out = {t.name: list(t.time_intervals) for t in self.mute_time_intervals}
        out.update({t.name: list(t.time_intervals) for t in self.time_intervals})
        return out


# --------------------------------------------------------------------------- loading


def load_alertmanager_config(path: str | Path) -> AlertmanagerConfig:
    """Read and validate an alertmanager.yml; ``ConfigError`` lists every problem."""
    return parse_alertmanager_config(load_yaml(path))


def parse_alertmanager_config(src: YamlSource, *, placeholders: str = "error") -> AlertmanagerConfig:
    """Validate a parsed alertmanager.yml.

    ``placeholders="warning"`` downgrades placeholder secrets/URLs to warnings (kept in
    ``.warnings``); ``guardia notify test`` uses it to test one good receiver of a config
    whose other receivers are not filled in yet, and to refuse a bad one with the reason.
    """
    data = src.data if src.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([src.issue((), "alertmanager.yml must be a YAML mapping")])
    try:
        cfg = AlertmanagerConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(issues_from(e, src)) from None
    # Paths first: receivers inherit global's http_config, which must already be resolved.
    cfg, findings = rebase_files(cfg, config_dir(src.file))
    findings += _http_client_findings(cfg)
    checker = _Checker(src, cfg, placeholders)
    checker.issues += [src.issue(p, m, severity=s) for p, m, s in findings]
    resolved = checker.run()
    errors = [i for i in checker.issues if i.severity == "error"]
    if errors:
        raise ConfigError(checker.issues)
    return resolved.model_copy(update={"warnings": tuple(checker.issues)})


def _http_client_findings(cfg: AlertmanagerConfig) -> list[Finding]:
    """prometheus/common's rules for every ``http_config`` (and email ``tls_config``), as amtool runs them.

    Alertmanager embeds the same client block as Prometheus, so the same checks apply:
    one kind of credentials, not both a secret and its file, cert and key together.
    """
    out: list[Finding] = []
    if cfg.global_.http_config is not None:
        out += check_http_client(cfg.global_.http_config, ("global", "http_config"))
    for i, r in enumerate(cfg.receivers):
        configs = r.integrations()
        for kind, j, c in configs:
            if c.http_config is not None:
                out += check_http_client(c.http_config, ("receivers", i, f"{kind}_configs", j, "http_config"))
        for kind, j, c in configs:
            out += INTEGRATIONS[kind].client_findings(c, ("receivers", i, f"{kind}_configs", j))
    return out


class _Checker:
    """Alertmanager's semantic checks plus guardia's placeholder checks, with positions."""

    def __init__(self, src: YamlSource, cfg: AlertmanagerConfig, placeholders: str = "error") -> None:
        self.src = src
        self.cfg = cfg
        self.placeholder_severity = placeholders
        self._secret_notes: dict[tuple[FieldPath, str, str], list[str]] = {}
        self.issues: list[ConfigIssue] = []
        self.base_dir = config_dir(src.file)

    def err(self, path: FieldPath, msg: str, *, at_key: bool = False) -> None:
        self.issues.append(self.src.issue(path, msg, at_key=at_key))

    def run(self) -> AlertmanagerConfig:
        cfg = self.cfg
        names: set[str] = set()
        for i, r in enumerate(cfg.receivers):
            if not r.name:
                self.err(("receivers", i, "name"), "missing name in receiver")
            elif r.name in names:
                self.err(("receivers", i, "name"), f'notification config name "{r.name}" is not unique')
            names.add(r.name)
            for kind in UNSUPPORTED:
                if getattr(r, f"{kind}_configs"):
                    self.err(
                        ("receivers", i, f"{kind}_configs"),
                        f"{kind} integration is valid for Alertmanager but guardia cannot deliver to it; "
                        f"use one of {', '.join(INTEGRATIONS)} (or a webhook bridge)",
                    )
        tnames: set[str] = set()
        for key in ("time_intervals", "mute_time_intervals"):
            for i, t in enumerate(getattr(cfg, key)):
                if t.name in tnames:
                    self.err((key, i, "name"), f'time interval "{t.name}" is not unique')
                tnames.add(t.name)
                for j, ti in enumerate(t.time_intervals):
                    if ti.location is not None:
                        self._check_location((key, i, "time_intervals", j, "location"), ti.location)
        if cfg.route is None:
            self.err((), "no route provided in config; add a route with a default receiver")
        else:
            self._check_root(cfg.route)
            self._check_route(cfg.route, ("route",), names, tnames)
        for i, rule in enumerate(cfg.inhibit_rules):
            for j, e in enumerate(rule.equal):
                if not is_valid_label_name(e):
                    self.err(("inhibit_rules", i, "equal", j), f'"{e}" is not a valid label name')
        receivers = [self._resolve_receiver(i, r) for i, r in enumerate(cfg.receivers)]
        self._emit_secret_notes()
        self._check_global_placeholders()
        self._check_template_strings()
        templates = self._templates()
        return cfg.model_copy(update={
            "receivers": receivers, "file": self.src.file, "template_files": templates,
        })

    def _check_location(self, path: FieldPath, loc: str) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(loc)
        except (ZoneInfoNotFoundError, ValueError):
            self.err(path, f'unknown time zone "{loc}" (use an IANA name such as Europe/Madrid)')

    def _check_root(self, r: Route) -> None:
        if not r.receiver:
            self.err(("route",), "root route must specify a default receiver", at_key=True)
        if r.match or r.match_re or r.matchers:
            self.err(("route",), "root route must not have any matchers", at_key=True)
        if r.mute_time_intervals:
            self.err(("route", "mute_time_intervals"), "root route must not have any mute time intervals")
        if r.active_time_intervals:
            self.err(("route", "active_time_intervals"), "root route must not have any active time intervals")
        if r.continue_:
            self.err(("route", "continue"), "cannot have continue in root route")

    def _check_route(self, r: Route, path: FieldPath, receivers: set[str], intervals: set[str]) -> None:
        if r.receiver and r.receiver not in receivers:
            defined = ", ".join(sorted(receivers)) or "(none)"
            self.err((*path, "receiver"),
                     f'receiver "{r.receiver}" is not defined; defined receivers: {defined}')
        if r.group_by is not None:
            if "..." in r.group_by and len(r.group_by) > 1:
                self.err((*path, "group_by"),
                         "cannot have wildcard group_by (`...`) and other labels at the same time")
            seen: set[str] = set()
            for j, g in enumerate(r.group_by):
                if g != "..." and not is_valid_label_name(g):
                    self.err((*path, "group_by", j), f"invalid label name {g!r} in group_by")
                if g in seen:
                    self.err((*path, "group_by", j), f"duplicated label {g!r} in group_by")
                seen.add(g)
        for key in ("group_interval", "repeat_interval"):
            if getattr(r, key) == 0:
                self.err((*path, key), f"{key} cannot be zero")
        for key in ("mute_time_intervals", "active_time_intervals"):
            for j, name in enumerate(getattr(r, key)):
                if name not in intervals:
                    self.err((*path, key, j), f'undefined time interval "{name}" used in route')
        last_after = -1
        for j, step in enumerate(r.escalate):
            if not step.receiver:
                self.err((*path, "escalate", j), "an escalation step needs a receiver")
            elif step.receiver not in receivers:
                defined = ", ".join(sorted(receivers)) or "(none)"
                self.err((*path, "escalate", j, "receiver"),
                         f'receiver "{step.receiver}" is not defined; defined receivers: {defined}')
            if step.after < last_after:
                self.err((*path, "escalate", j, "after"),
                         "escalation steps must be in order of their after: times")
            last_after = step.after
        for i, child in enumerate(r.routes):
            self._check_route(child, (*path, "routes", i), receivers, intervals)

    # ---- receivers (each integration's checks are in its module, guardia.config.receivers.NAME)

    @property
    def global_(self) -> GlobalConfig:
        return self.cfg.global_

    def http_config(self, c: NotifierConfig) -> HTTPConfig | None:
        return c.http_config if c.http_config is not None else self.cfg.global_.http_config

    def secret(self, path: FieldPath, value: Secret | None, file: str | None, what: str,
                receiver: str) -> Secret | None:
        """Resolve a secret (inline with ``${VAR}`` expansion, or ``*_file``) and check it.

        Problems are collected per field and reported per receiver they break.
        """
        if file:
            try:
                value = read_secret_file(file, self.base_dir)
            except SecretResolutionError as e:
                self._note((*path[:-1], str(path[-1]) + "_file"), str(e), "error", receiver)
                return None
        elif value is not None:
            raw = value.reveal()
            if "${" in raw:
                try:
                    value = Secret(expand_env(raw))
                except SecretResolutionError as e:
                    self._note(path, f"{e}, so the {what} is unknown", "error", receiver)
                    return None
        if value is not None:
            reason = placeholder_reason(value.reveal())
            if reason:
                self._note(path, f"{what} {reason}", self.placeholder_severity, receiver)
        return value

    def _note(self, path: FieldPath, text: str, severity: str, receiver: str) -> None:
        self._secret_notes.setdefault((path, text, severity), []).append(receiver)

    def _emit_secret_notes(self) -> None:
        # One issue per field, naming every receiver it breaks: a global SMTP password shared
        # by four email receivers is one thing to fix, not four identical errors.
        for (path, text, severity), receivers in self._secret_notes.items():
            names = [f'"{r}"' for r in dict.fromkeys(receivers)]
            who = (f"receiver {names[0]}" if len(names) == 1
                   else f"receivers {', '.join(names[:-1])} and {names[-1]}")
            self.issues.append(self.src.issue(
                path, f"{text}; {who} would never deliver — set the real value (or use the "
                      "*_file variant)", severity=severity))

    def _resolve_receiver(self, i: int, r: Receiver) -> Receiver:
        upd: dict[str, Any] = {}
        for integration in INTEGRATIONS.values():
            upd[integration.field] = [
                integration.resolve(c, ("receivers", i, integration.field, j), r.name, self)
                for j, c in enumerate(getattr(r, integration.field))
            ]
        return r.model_copy(update=upd)

    def _check_global_placeholders(self) -> None:
        g = self.cfg.global_
        for key in ("smtp_smarthost", "smtp_from"):
            v = getattr(g, key)
            reason = placeholder_reason(v) if v else None
            if reason and not (key == "smtp_from" and "@" in v and "example." not in v):
                self.issues.append(self.src.issue(("global", key), f"{key} {reason}", severity="warning"))

    def _check_template_strings(self) -> None:
        """Template syntax in receiver fields (titles, texts, headers) is checked now, not at
        3 a.m. when the first alert renders it (Alertmanager only finds out then)."""
        from guardia.template import Template, TemplateError, alertmanager_funcs

        funcs = alertmanager_funcs()

        def check(path: FieldPath, value: Any) -> None:
            if isinstance(value, str):
                if "{{" not in value:
                    return
                try:
                    Template(funcs).parse(value, "field")
                except TemplateError as e:
                    self.err(path, f"invalid template: {e.message.removeprefix('template: field:1: ')}")
            elif isinstance(value, dict):
                for k, v in value.items():
                    check((*path, k), v)
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    check((*path, i), v)

        raw = self.src.data if isinstance(self.src.data, dict) else {}
        for i, r in enumerate(raw.get("receivers") or []):
            if not isinstance(r, dict):
                continue
            for key, configs in r.items():
                if key.endswith("_configs") and isinstance(configs, list):
                    check(("receivers", i, key), configs)

    def _templates(self) -> list[str]:
        from guardia.template import Template, TemplateError, alertmanager_funcs

        files: list[str] = []
        for i, pattern in enumerate(self.cfg.templates):
            p = pattern if Path(pattern).is_absolute() else str(Path(self.base_dir) / pattern)
            try:
                matches = sorted(glob.glob(p))
            except re.error as e:  # pragma: no cover - glob rarely raises
                self.err(("templates", i), f"invalid template glob {pattern!r}: {e}")
                continue
            if not matches and not glob.has_magic(p):
                self.err(("templates", i), f"template file {p!r} does not exist")
            for f in matches:
                try:
                    Template(alertmanager_funcs()).parse(Path(f).read_text(encoding="utf-8"), Path(f).name)
                except TemplateError as e:
                    self.err(("templates", i), f"{f}: {e.message}")
                except (OSError, UnicodeDecodeError) as e:
                    self.err(("templates", i), f"cannot read template file {f}: {e}")
            files.extend(matches)
        return files
