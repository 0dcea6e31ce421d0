"""The probe sections of a guardia.yml: ``probe_modules:``, ``probes:`` and ``status_pages:``.

``probe_modules:`` is a Blackbox exporter ``modules:`` mapping written inline, or
``{file: blackbox.yml}`` naming the exporter's own file; either adds to (and may redefine)
the built-in modules.  Each entry of ``probes:`` is a monitor: a name, targets, a module
(by name, or written inline with the same fields as a module), an interval, retries before
it is called down, optional Gatus-style ``conditions``; or a ``heartbeat:`` that cron jobs
and backups push to.  ``status_pages:`` groups monitors into public pages.

Sections are validated with the config schema against the YAML source, so every error names
file, line and field; a reload with an error keeps the running probes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.fields import Duration, PromModel
from guardia.config.schema import Field, ValidationError, model_validator
from guardia.config.secrets import Secret
from guardia.config.validate import issues_from
from guardia.config.yamlsource import YamlSource, load_yaml
from guardia.probes.conditions import Condition, ConditionError, parse_condition
from guardia.probes.modules import (
    DNSProbe,
    GRPCProbe,
    HTTPProbe,
    ICMPProbe,
    Module,
    TCPProbe,
    WebSocketProbe,
    default_modules,
    load_modules_file,
)

DEFAULT_INTERVAL_MS = 30_000
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,}$")


class HeartbeatSpec(PromModel):
    """A push monitor: the job calls ``/api/push/<token>`` at least every ``period``."""

    token: Secret
    period: Duration = 3_600_000
    grace: Duration = 300_000

    @model_validator(mode="after")
    def _token(self) -> HeartbeatSpec:
        if not _TOKEN.match(self.token.reveal()):
            raise ValueError("heartbeat.token must be at least 16 letters, digits, '-' or '_' "
                             "(it is the secret in the push URL)")
        if self.period < 1000:
            raise ValueError("heartbeat.period must be at least 1s")
        return self


class ConfirmSpec(PromModel):
    """Down only when this many locations (guardia instances, by ``location`` label) agree."""

    min_locations: int = 2
    label: str = "location"


class MonitorSpec(PromModel):
    name: str
    description: str = ""
    targets: tuple[str, ...] = ()
    module: str = ""
    # an inline module: the fields of a Blackbox module, directly on the monitor
    prober: str = ""
    timeout: Duration = 0
    http: HTTPProbe | None = None
    tcp: TCPProbe | None = None
    dns: DNSProbe | None = None
    icmp: ICMPProbe | None = None
    grpc: GRPCProbe | None = None
    websocket: WebSocketProbe | None = None
    interval: Duration = DEFAULT_INTERVAL_MS
    retries: int = Field(default=0, ge=0)
    conditions: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    heartbeat: HeartbeatSpec | None = None
    confirm: ConfirmSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> MonitorSpec:
        if self.heartbeat is not None:
            if self.targets or self.module or self.prober:
                raise ValueError("a heartbeat monitor has no targets, module or prober: jobs push to it")
            return self
        if not self.targets:
            raise ValueError("a probe needs targets (URLs or host:port), or a heartbeat: block")
        if self.module and self.prober:
            raise ValueError("give either module (a module's name) or an inline prober, not both")
        if not self.module and not self.prober:
            raise ValueError("a probe needs a module (e.g. http_2xx) or an inline prober (http, tcp, ...)")
        if self.interval < 1000:
            raise ValueError("interval must be at least 1s")
        return self


class StatusGroupSpec(PromModel):
    """A group of the page: probes by name, and services by scrape job (their ``up`` series)."""

    name: str
    probes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


class StatusAuthSpec(PromModel):
    username: str
    password: Secret


class StatusEmailSpec(PromModel):
    """How the page emails its subscribers (an SMTP relay, as Alertmanager's email receiver)."""

    smarthost: str
    sender: str = Field(alias="from")
    username: str = ""
    password: Secret | None = None
    require_tls: bool = True

    @model_validator(mode="after")
    def _hostport(self) -> StatusEmailSpec:
        host, _, port = self.smarthost.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"smarthost {self.smarthost!r} must be host:port, e.g. smtp.example.com:587")
        return self


class StatusPageSpec(PromModel):
    slug: str
    title: str
    description: str = ""
    logo: str = ""
    public: bool = True
    auth: StatusAuthSpec | None = None
    editors: StatusAuthSpec | None = None
    email: StatusEmailSpec | None = None
    groups: tuple[StatusGroupSpec, ...] = ()
    incident_alerts: tuple[str, ...] = ()
    footer: str = ""

    @model_validator(mode="after")
    def _check(self) -> StatusPageSpec:
        if not _SLUG.match(self.slug):
            raise ValueError(f"slug {self.slug!r} must be lowercase letters, digits and '-' (it is the URL)")
        if not self.public and self.auth is None:
            raise ValueError("a page that is not public needs auth: {username, password}")
        return self


@dataclass(frozen=True, slots=True)
class Monitor:
    """A validated probe: what the scheduler runs and the status pages show."""

    name: str
    module_name: str
    module: Module | None
    targets: tuple[str, ...]
    interval_ms: int
    retries: int
    conditions: tuple[Condition, ...]
    labels: Mapping[str, str]
    description: str = ""
    heartbeat: HeartbeatSpec | None = None
    confirm: ConfirmSpec | None = None

    @property
    def is_heartbeat(self) -> bool:
        return self.heartbeat is not None


@dataclass(frozen=True, slots=True)
class ProbesConfig:
    modules: Mapping[str, Module] = field(default_factory=default_modules)
    monitors: tuple[Monitor, ...] = ()
    status_pages: tuple[StatusPageSpec, ...] = ()

    def monitor(self, name: str) -> Monitor | None:
        for m in self.monitors:
            if m.name == name:
                return m
        return None


_MODULE_FIELDS = ("prober", "timeout", "http", "tcp", "dns", "icmp", "grpc", "websocket")


def _inline_module(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in _MODULE_FIELDS if k in raw and raw[k] is not None}


def parse_probes(src: YamlSource, data: Mapping[str, Any] | None = None) -> ProbesConfig:
    """The probe sections of ``src`` (a guardia.yml); ``ConfigError`` lists every problem."""
    doc = src.data if data is None else data
    if not isinstance(doc, Mapping):
        return ProbesConfig()
    issues: list[ConfigIssue] = []
    modules: dict[str, Module] = dict(default_modules())
    pm = doc.get("probe_modules")
    if isinstance(pm, Mapping) and "file" in pm:
        path = pm["file"]
        if not isinstance(path, str):
            issues.append(src.issue(("probe_modules", "file"), "file must be the path of a blackbox.yml"))
        else:
            full = path if os.path.isabs(path) else os.path.join(os.path.dirname(src.file), path)
            try:
                modules.update(load_modules_file(full))
            except ConfigError as e:
                issues += e.issues
    elif isinstance(pm, Mapping):
        for name, raw_mod in pm.items():
            try:
                modules[str(name)] = Module.model_validate(raw_mod)
            except ValidationError as e:
                issues += issues_from(e, src, ("probe_modules", name))
    elif pm is not None:
        issues.append(src.issue(("probe_modules",), "probe_modules must map module names to modules "
                                "(as a blackbox.yml's modules:), or be {file: blackbox.yml}"))

    monitors: list[Monitor] = []
    raw_probes = doc.get("probes") or []
    for i, raw in enumerate(raw_probes if isinstance(raw_probes, list) else []):
        try:
            spec = MonitorSpec.model_validate(raw)
        except ValidationError as e:
            issues += issues_from(e, src, ("probes", i))
            continue
        module: Module | None = None
        module_name = spec.module
        if spec.heartbeat is None:
            if spec.prober:
                try:
                    module = Module.model_validate(_inline_module(raw))
                except ValidationError as e:
                    issues += issues_from(e, src, ("probes", i))
                    continue
                module_name = spec.name
            else:
                module = modules.get(spec.module)
                if module is None:
                    known = ", ".join(sorted(modules))
                    issues.append(src.issue(("probes", i, "module"),
                                            f"unknown module {spec.module!r}; known modules: {known}"))
                    continue
        conditions = []
        for j, text in enumerate(spec.conditions):
            try:
                conditions.append(parse_condition(text))
            except ConditionError as e:
                issues.append(src.issue(("probes", i, "conditions", j), str(e)))
        labels = {"job": spec.name, **spec.labels}
        monitors.append(Monitor(
            name=spec.name, module_name=module_name, module=module, targets=spec.targets,
            interval_ms=spec.interval, retries=spec.retries, conditions=tuple(conditions),
            labels=MappingProxyType(labels), description=spec.description,
            heartbeat=spec.heartbeat, confirm=spec.confirm,
        ))

    pages: list[StatusPageSpec] = []
    names = {m.name for m in monitors}
    raw_pages = doc.get("status_pages") or []
    if not isinstance(raw_pages, list):
        issues.append(src.issue(("status_pages",), "status_pages must be a list of pages, each with a slug"))
        raw_pages = []
    slugs: set[str] = set()
    for i, raw in enumerate(raw_pages):
        try:
            page = StatusPageSpec.model_validate(raw)
        except ValidationError as e:
            issues += issues_from(e, src, ("status_pages", i))
            continue
        if page.slug in slugs:
            issues.append(src.issue(("status_pages", i, "slug"), f"slug {page.slug!r} is used twice"))
        slugs.add(page.slug)
        for g, group in enumerate(page.groups):
            for p, name in enumerate(group.probes):
                if name not in names:
                    issues.append(src.issue(("status_pages", i, "groups", g, "probes", p),
                                            f"no probe named {name!r} in probes:"))
        pages.append(page)
    if any(i.severity == "error" for i in issues):
        raise ConfigError(issues)
    return ProbesConfig(MappingProxyType(modules), tuple(monitors), tuple(pages))


def load_probes(config_file: str) -> ProbesConfig:
    """The probe sections of the guardia.yml at ``config_file`` (empty when it has none)."""
    if not config_file:
        return ProbesConfig()
    return parse_probes(load_yaml(config_file))

