"""prometheus.yml as Prometheus 3 reads it: models, defaults and cross-field checks.

The schema (field names, types, unknown fields refused) lives in the models; the
rules that span fields or entries (a timeout longer than its interval, two jobs with one
name, a target written as a URL) live in ``check_prometheus``, which returns findings with
exact field paths so the loader can point at the line.  ``resolve_defaults`` then fills
what Prometheus inherits from ``global`` into each job, so runtime code (scrape, rules,
remote write) reads one settled value and never re-implements the inheritance.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from guardia.config.errors import ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.fields import (
    Duration,
    LabelSet,
    PromModel,
    SizeBytes,
    remap_path,
    validate_salvaging,
)
from guardia.config.httpclient import Finding, HTTPClientFields, check_http_client
from guardia.config.placeholders import placeholder_findings
from guardia.config.relabel import RelabelConfig
from guardia.config.schema import Field, NonNegativeInt, field_validator
from guardia.config.yamlsource import YamlSource

DEFAULT_SCRAPE_INTERVAL_MS = 60_000
DEFAULT_SCRAPE_TIMEOUT_MS = 10_000
DEFAULT_EVALUATION_INTERVAL_MS = 60_000

# Prometheus 3's default Accept order; the protobuf format first when the job scrapes native
# histograms (only that format carries them).
SCRAPE_PROTOCOLS = (
    "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4",
)
PROTO_FIRST_SCRAPE_PROTOCOLS = ("PrometheusProto", *SCRAPE_PROTOCOLS)
ScrapeProtocol = Literal[
    "PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0",
    "PrometheusText0.0.4",
]
NameValidationScheme = Literal["utf8", "legacy"]
NameEscapingScheme = Literal["allow-utf-8", "underscores", "dots", "values"]


class GlobalConfig(PromModel):
    """``global:``; ``scrape_timeout`` None means "derive it" (10s, or the interval if shorter)."""

    scrape_interval: Duration = DEFAULT_SCRAPE_INTERVAL_MS
    scrape_timeout: Duration | None = None
    evaluation_interval: Duration = DEFAULT_EVALUATION_INTERVAL_MS
    rule_query_offset: Duration = 0
    external_labels: LabelSet = Field(default_factory=dict)
    query_log_file: str | None = None
    scrape_failure_log_file: str | None = None
    scrape_protocols: tuple[ScrapeProtocol, ...] | None = None
    body_size_limit: SizeBytes = 0
    sample_limit: NonNegativeInt = 0
    label_limit: NonNegativeInt = 0
    label_name_length_limit: NonNegativeInt = 0
    label_value_length_limit: NonNegativeInt = 0
    target_limit: NonNegativeInt = 0
    keep_dropped_targets: NonNegativeInt = 0
    metric_name_validation_scheme: NameValidationScheme | None = None
    metric_name_escaping_scheme: NameEscapingScheme | None = None
    scrape_native_histograms: bool = False
    always_scrape_classic_histograms: bool = False
    convert_classic_histograms_to_nhcb: bool = False


class StaticConfig(PromModel):
    targets: tuple[str, ...] = ()
    labels: LabelSet = Field(default_factory=dict)

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, v: Any) -> Any:
        if isinstance(v, str):
            raise ValueError("targets must be a list, e.g. ['host:9100']")
        return v


class FileSDConfig(PromModel):
    files: tuple[str, ...]
    relative_path_lists: ClassVar[frozenset[str]] = frozenset({"files"})
    refresh_interval: Duration = 300_000


class ScrapeConfig(HTTPClientFields):
    """One ``scrape_configs`` entry; after ``resolve_defaults`` no field is None."""

    job_name: str
    honor_labels: bool = False
    honor_timestamps: bool = True
    track_timestamps_staleness: bool = False
    params: dict[str, tuple[str, ...]] | None = None
    scrape_interval: Duration | None = None
    scrape_timeout: Duration | None = None
    scrape_protocols: tuple[ScrapeProtocol, ...] | None = None
    fallback_scrape_protocol: ScrapeProtocol | None = None
    scrape_native_histograms: bool | None = None
    always_scrape_classic_histograms: bool | None = None
    convert_classic_histograms_to_nhcb: bool | None = None
    metrics_path: str = "/metrics"
    scheme: Literal["http", "https"] = "http"
    enable_compression: bool = True
    body_size_limit: SizeBytes | None = None
    sample_limit: NonNegativeInt | None = None
    label_limit: NonNegativeInt | None = None
    label_name_length_limit: NonNegativeInt | None = None
    label_value_length_limit: NonNegativeInt | None = None
    target_limit: NonNegativeInt | None = None
    keep_dropped_targets: NonNegativeInt | None = None
    native_histogram_bucket_limit: NonNegativeInt = 0
    native_histogram_min_bucket_factor: float = 0.0
    metric_name_validation_scheme: NameValidationScheme | None = None
    metric_name_escaping_scheme: NameEscapingScheme | None = None
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, v: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, vals in v.items():
                if isinstance(vals, str | int | float):
                    raise ValueError(f"params.{k} must be a list of values, e.g. [{vals!r}]")
                out[k] = vals
            return out
        return v

    # Resolved views: callers after resolve_defaults may rely on these being set.
    @property
    def interval_ms(self) -> int:
        return self.scrape_interval if self.scrape_interval is not None else DEFAULT_SCRAPE_INTERVAL_MS

    @property
    def timeout_ms(self) -> int:
        return self.scrape_timeout if self.scrape_timeout is not None else DEFAULT_SCRAPE_TIMEOUT_MS


class AlertmanagerEndpointConfig(HTTPClientFields):
    """One ``alerting.alertmanagers`` entry: where rule evaluation sends alerts."""

    scheme: Literal["http", "https"] = "http"
    path_prefix: str = "/"
    timeout: Duration = 10_000
    api_version: str = "v2"
    relabel_configs: tuple[RelabelConfig, ...] = ()
    alert_relabel_configs: tuple[RelabelConfig, ...] = ()
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()


class AlertingConfig(PromModel):
    alert_relabel_configs: tuple[RelabelConfig, ...] = ()
    alertmanagers: tuple[AlertmanagerEndpointConfig, ...] = ()


class QueueConfig(PromModel):
    capacity: NonNegativeInt = 10_000
    max_shards: NonNegativeInt = 50
    min_shards: NonNegativeInt = 1
    max_samples_per_send: NonNegativeInt = 2_000
    batch_send_deadline: Duration = 5_000
    min_backoff: Duration = 30
    max_backoff: Duration = 5_000
    retry_on_http_429: bool = True
    sample_age_limit: Duration = 0


class MetadataConfig(PromModel):
    send: bool = True
    send_interval: Duration = 60_000
    max_samples_per_send: NonNegativeInt = 2_000


class RemoteWriteConfig(HTTPClientFields):
    url: str
    remote_timeout: Duration = 30_000
    headers: dict[str, str] | None = None
    write_relabel_configs: tuple[RelabelConfig, ...] = ()
    name: str | None = None
    send_exemplars: bool = False
    send_native_histograms: bool = False
    round_robin_dns: bool = False
    protobuf_message: Literal["prometheus.WriteRequest", "io.prometheus.write.v2.Request"] = (
        "prometheus.WriteRequest"
    )
    queue_config: QueueConfig = Field(default_factory=QueueConfig)
    metadata_config: MetadataConfig = Field(default_factory=MetadataConfig)


class RemoteReadConfig(HTTPClientFields):
    url: str
    remote_timeout: Duration = 60_000
    headers: dict[str, str] | None = None
    read_recent: bool = False
    name: str | None = None
    required_matchers: LabelSet = Field(default_factory=dict)
    filter_external_labels: bool = True


class TSDBConfig(PromModel):
    out_of_order_time_window: Duration = 0


class ExemplarsConfig(PromModel):
    max_exemplars: NonNegativeInt = 100_000


OTLPTranslationStrategy = Literal[
    "UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes", "NoUTF8EscapingWithSuffixes",
    "NoTranslation",
]


class OTLPConfig(PromModel):
    """``otlp:``, how the OTLP receiver (``/api/v1/otlp/v1/metrics``) names what it stores."""

    promote_resource_attributes: tuple[str, ...] = ()
    promote_all_resource_attributes: bool = False
    ignore_resource_attributes: tuple[str, ...] = ()
    translation_strategy: OTLPTranslationStrategy = "UnderscoreEscapingWithSuffixes"
    keep_identifying_resource_attributes: bool = False
    convert_histograms_to_nhcb: bool = False
    promote_scope_metadata: bool = False


class StorageConfig(PromModel):
    tsdb: TSDBConfig = Field(default_factory=TSDBConfig)
    exemplars: ExemplarsConfig = Field(default_factory=ExemplarsConfig)


class PrometheusConfig(PromModel):
    """A whole prometheus.yml.  ``global_`` is spelled ``global`` in YAML."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    rule_files: tuple[str, ...] = ()
    scrape_config_files: tuple[str, ...] = ()
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    storage: StorageConfig = Field(default_factory=StorageConfig)
    remote_write: tuple[RemoteWriteConfig, ...] = ()
    remote_read: tuple[RemoteReadConfig, ...] = ()
    # Accepted so a Prometheus config loads unchanged; guardia has no use for them yet.
    tracing: dict[str, Any] | None = None
    otlp: OTLPConfig = Field(default_factory=OTLPConfig)
    runtime: dict[str, Any] | None = None

    def scrape_config(self, job_name: str) -> ScrapeConfig | None:
        for sc in self.scrape_configs:
            if sc.job_name == job_name:
                return sc
        return None


# --- checks that span fields ---------------------------------------------------------------

_FILE_SD_PATTERN = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
_RESERVED_HEADERS = {
    "authorization": "authorization header must be changed via the basic_auth, authorization or oauth2 "
                     "parameter",
    "content-encoding": "Content-Encoding is a reserved header; it must not be changed",
    "content-type": "Content-Type is a reserved header; it must not be changed",
    "x-prometheus-remote-write-version": "X-Prometheus-Remote-Write-Version is a reserved header; it must "
                                         "not be changed",
    "user-agent": "User-Agent is a reserved header; it must not be changed",
}
UNSUPPORTED_SD_HINT = (
    "is a service discovery guardia does not implement; list the targets in static_configs, or "
    "have a tool write them to a file read by file_sd_configs"
)


def target_problem(target: str, path_field: str = "metrics_path") -> str | None:
    """Why a static target is not a ``host:port`` Prometheus can scrape, or None."""
    if target == "":
        return "target is empty; write host:port, e.g. 'api:8000'"
    if "/" in target:
        hint = ""
        hint = "; put the scheme in 'scheme'" if "://" in target else f"; put the path in '{path_field}'"
        return f"{target!r} is not a valid hostname: targets are host:port{hint}"
    host, port = target, None
    if target.startswith("["):
        end = target.find("]")
        if end < 0:
            return f"{target!r} has an unclosed '[' (IPv6 targets are written [::1]:9090)"
        rest = target[end + 1:]
        if rest.startswith(":"):
            port = rest[1:]
        elif rest:
            return f"{target!r} is not host:port"
        host = target[1:end]
    elif target.count(":") == 1:
        host, port = target.split(":")
    elif target.count(":") > 1:
        return f"{target!r} is not host:port (write IPv6 addresses in brackets: [::1]:9090)"
    if host == "":
        return f"{target!r} has no host"
    if any(c.isspace() for c in target):
        return f"{target!r} contains whitespace"
    if port is not None and (not _PORT_RE.match(port) or not 0 < int(port) < 65536):
        return f"{target!r} has an invalid port {port!r} (1-65535)"
    return None


def rewrites_address(relabels: tuple[RelabelConfig, ...]) -> bool:
    """Whether relabeling may set ``__address__`` (the blackbox pattern: URLs as targets,
    rewritten to the prober's address), in which case the final address is known only then."""
    for rc in relabels:
        if rc.target_label == "__address__" or "$" in rc.target_label or rc.action.value == "labelmap":
            return True
    return False


def _check_static(
    configs: tuple[StaticConfig, ...], base: FieldPath, path_field: str = "metrics_path"
) -> Iterator[Finding]:
    for i, sc in enumerate(configs):
        for j, t in enumerate(sc.targets):
            problem = target_problem(t, path_field)
            if problem:
                yield ((*base, i, "targets", j), problem, "error")


def _check_file_sd(configs: tuple[FileSDConfig, ...], base: FieldPath) -> Iterator[Finding]:
    for i, fc in enumerate(configs):
        if not fc.files:
            yield ((*base, i, "files"), "file_sd_configs needs at least one file pattern", "error")
        for j, f in enumerate(fc.files):
            if not _FILE_SD_PATTERN.match(f):
                yield ((*base, i, "files", j),
                       f"path name {f!r} is not valid for file discovery: it must end in .json, .yml or "
                       ".yaml and may contain '*' only in its last path element", "error")


def _check_glob(pattern: str) -> str | None:
    """Why a rule_files glob is malformed (an unclosed '['), or None."""
    depth = 0
    for ch in pattern:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
    if depth:
        return f"invalid rule file path {pattern!r}: unclosed '[' in the pattern"
    try:
        fnmatch.translate(pattern)
    except re.error as e:  # pragma: no cover - translate escapes nearly everything
        return f"invalid rule file path {pattern!r}: {e}"
    return None


def check_prometheus(cfg: PrometheusConfig) -> list[Finding]:
    """Cross-field rules of Prometheus's config loader, with exact field paths."""
    out: list[Finding] = []
    g = cfg.global_
    if g.scrape_timeout is not None and g.scrape_timeout > g.scrape_interval:
        out.append((("global", "scrape_timeout"), "global scrape timeout greater than scrape interval "
                    "(a scrape would still be running when the next one starts)", "error"))
    if g.query_log_file:
        out.append((("global", "query_log_file"), "query_log_file is ignored by guardia; queries are "
                    "logged through the process log", "warning"))
    if g.scrape_failure_log_file:
        out.append((("global", "scrape_failure_log_file"), "scrape_failure_log_file is ignored by guardia; "
                    "scrape failures are shown on the targets page and logged", "warning"))
    for i, pattern in enumerate(cfg.rule_files):
        problem = _check_glob(pattern)
        if problem:
            out.append((("rule_files", i), problem, "error"))
    for i, pattern in enumerate(cfg.scrape_config_files):
        problem = _check_glob(pattern)
        if problem:
            msg = problem.replace("rule file", "scrape config file")
            out.append((("scrape_config_files", i), msg, "error"))

    out.extend(_check_otlp(cfg.otlp))
    g_scheme = g.metric_name_validation_scheme or "utf8"
    if g.metric_name_escaping_scheme == "allow-utf-8" and g_scheme == "legacy":
        out.append((("global", "metric_name_escaping_scheme"), _ALLOW_UTF8_WITH_LEGACY, "error"))
    out.extend(_check_protocols(g.scrape_protocols, ("global", "scrape_protocols")))
    for i, sc in enumerate(cfg.scrape_configs):
        out.extend(_check_protocols(sc.scrape_protocols, ("scrape_configs", i, "scrape_protocols")))
        scheme = sc.metric_name_validation_scheme or g_scheme
        if sc.metric_name_escaping_scheme == "allow-utf-8" and scheme == "legacy":
            out.append((("scrape_configs", i, "metric_name_escaping_scheme"), _ALLOW_UTF8_WITH_LEGACY,
                        "error"))

    seen: dict[str, int] = {}
    for i, sc in enumerate(cfg.scrape_configs):
        base: FieldPath = ("scrape_configs", i)
        if sc.job_name == "":
            out.append(((*base, "job_name"), "job_name is empty", "error"))
        elif sc.job_name in seen:
            out.append(((*base, "job_name"), f"found multiple scrape configs with job name {sc.job_name!r} "
                        f"(first at scrape_configs[{seen[sc.job_name]}]); job names must be unique", "error"))
        else:
            seen[sc.job_name] = i
        interval = sc.scrape_interval if sc.scrape_interval is not None else g.scrape_interval
        if sc.scrape_timeout is not None and sc.scrape_timeout > interval:
            where = "scrape_timeout"
            out.append(((*base, where), f"scrape timeout greater than scrape interval for scrape config with "
                        f"job name {sc.job_name!r}", "error"))
        if not sc.metrics_path.startswith("/"):
            out.append(((*base, "metrics_path"), f"metrics_path {sc.metrics_path!r} must start with '/'",
                        "error"))
        if not rewrites_address(sc.relabel_configs):
            out.extend(_check_static(sc.static_configs, (*base, "static_configs")))
        out.extend(_check_file_sd(sc.file_sd_configs, (*base, "file_sd_configs")))
        out.extend(check_http_client(sc, base))
        if not sc.static_configs and not sc.file_sd_configs:
            out.append((base, f"job {sc.job_name!r} has no static_configs or file_sd_configs, so it has no "
                        "targets", "warning"))

    for i, am in enumerate(cfg.alerting.alertmanagers):
        base = ("alerting", "alertmanagers", i)
        if am.api_version != "v2":
            out.append(((*base, "api_version"), f"expected Alertmanager api version to be one of [v2], "
                        f"got {am.api_version!r}", "error"))
        if not rewrites_address(am.relabel_configs):
            out.extend(_check_static(am.static_configs, (*base, "static_configs"), "path_prefix"))
        out.extend(_check_file_sd(am.file_sd_configs, (*base, "file_sd_configs")))
        out.extend(check_http_client(am, base))

    names: dict[str, int] = {}
    for i, rw in enumerate(cfg.remote_write):
        base = ("remote_write", i)
        out.extend(_check_remote_url(rw.url, base, "remote_write"))
        for h in rw.headers or {}:
            if h.lower() in _RESERVED_HEADERS:
                out.append(((*base, "headers", h), _RESERVED_HEADERS[h.lower()], "error"))
        if rw.name:
            if rw.name in names:
                out.append(((*base, "name"), f"found multiple remote write configs with name {rw.name!r} "
                            f"(first at remote_write[{names[rw.name]}])", "error"))
            else:
                names[rw.name] = i
        q = rw.queue_config
        if q.min_shards > q.max_shards:
            out.append(((*base, "queue_config", "min_shards"), f"min_shards ({q.min_shards}) is greater than "
                        f"max_shards ({q.max_shards})", "error"))
        if q.min_backoff > q.max_backoff:
            out.append(((*base, "queue_config", "min_backoff"), "min_backoff is greater than max_backoff",
                        "error"))
        out.extend(check_http_client(rw, base))
    for i, rr in enumerate(cfg.remote_read):
        base = ("remote_read", i)
        out.extend(_check_remote_url(rr.url, base, "remote_read"))
        out.extend(check_http_client(rr, base))
    return out


_ALLOW_UTF8_WITH_LEGACY = (
    "metric_name_escaping_scheme cannot be set to 'allow-utf-8' while metric_name_validation_scheme is "
    "'legacy'; use underscores, dots or values, or validate with utf8"
)


def _check_otlp(otlp: OTLPConfig) -> Iterator[Finding]:
    """Prometheus 3's checks of ``otlp:``, plus what guardia cannot do yet."""
    for key in ("promote_resource_attributes", "ignore_resource_attributes"):
        seen: set[str] = set()
        for i, attr in enumerate(getattr(otlp, key)):
            attr = attr.strip()
            if not attr:
                yield (("otlp", key, i), f"empty attribute in {key}; remove the entry", "error")
            elif attr in seen:
                yield (("otlp", key, i), f"duplicated attribute {attr!r} in {key}", "error")
            seen.add(attr)
    if otlp.promote_all_resource_attributes and otlp.promote_resource_attributes:
        yield (("otlp", "promote_resource_attributes"), "'promote_all_resource_attributes' and "
               "'promote_resource_attributes' cannot be configured simultaneously", "error")
    if otlp.ignore_resource_attributes and not otlp.promote_all_resource_attributes:
        yield (("otlp", "ignore_resource_attributes"), "'ignore_resource_attributes' cannot be configured "
               "unless 'promote_all_resource_attributes' is true", "error")


def _check_protocols(protocols: tuple[str, ...] | None, path: FieldPath) -> Iterator[Finding]:
    """Prometheus's checks of ``scrape_protocols``: not empty, no protocol twice."""
    if protocols is None:
        return
    if not protocols:
        yield (path, "scrape_protocols cannot be empty; list at least one of PrometheusProto, "
               "OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText1.0.0, PrometheusText0.0.4",
               "error")
    seen: set[str] = set()
    for j, p in enumerate(protocols):
        if p in seen:
            yield ((*path, j), f"duplicated protocol {p!r} in scrape_protocols; list each once", "error")
        seen.add(p)


def _check_remote_url(url: str, base: FieldPath, what: str) -> Iterator[Finding]:
    if not url:
        yield ((*base, "url"), f"url for {what} is empty", "error")
    elif not url.startswith(("http://", "https://")):
        yield ((*base, "url"), f"url {url!r} must start with http:// or https://", "error")


def strip_unsupported_sd(data: Any) -> tuple[Any, list[Finding]]:
    """Remove ``*_sd_configs`` guardia does not implement, reporting each once.

    Refusing them with a specific message beats the generic "unknown field": the key is real
    Prometheus, guardia simply cannot discover those targets.
    """
    findings: list[Finding] = []
    if not isinstance(data, dict):
        return data, findings
    out = dict(data)

    def strip(entry: Any, base: FieldPath) -> Any:
        if not isinstance(entry, dict):
            return entry
        kept = {}
        for k, v in entry.items():
            if isinstance(k, str) and k.endswith("_sd_configs") and k not in ("file_sd_configs",):
                findings.append(((*base, k), f"{k} {UNSUPPORTED_SD_HINT}", "error"))
            else:
                kept[k] = v
        return kept

    scs = out.get("scrape_configs")
    if isinstance(scs, list):
        out["scrape_configs"] = [strip(sc, ("scrape_configs", i)) for i, sc in enumerate(scs)]
    alerting = out.get("alerting")
    if isinstance(alerting, dict) and isinstance(alerting.get("alertmanagers"), list):
        alerting = dict(alerting)
        alerting["alertmanagers"] = [
            strip(am, ("alerting", "alertmanagers", i)) for i, am in enumerate(alerting["alertmanagers"])
        ]
        out["alerting"] = alerting
    return out, findings


def resolve_defaults(cfg: PrometheusConfig, *, proto_first: bool = False) -> PrometheusConfig:
    """Fill what Prometheus inherits: global timeout, then each job's interval, timeout and limits.

    A job that scrapes native histograms, or every job when ``proto_first`` (Prometheus 3's
    ``created-timestamp-zero-ingestion``), asks for the protobuf format first unless it or
    ``global`` lists ``scrape_protocols``: only protobuf carries those."""
    g = cfg.global_
    g_timeout = g.scrape_timeout
    if g_timeout is None:
        g_timeout = min(DEFAULT_SCRAPE_TIMEOUT_MS, g.scrape_interval)
        g = g.model_copy(update={"scrape_timeout": g_timeout})
    jobs = []
    for sc in cfg.scrape_configs:
        interval = sc.scrape_interval if sc.scrape_interval is not None else g.scrape_interval
        timeout = sc.scrape_timeout
        if timeout is None:
            timeout = min(g_timeout, interval)
        upd: dict[str, Any] = {"scrape_interval": interval, "scrape_timeout": timeout}
        for f in ("body_size_limit", "sample_limit", "label_limit", "label_name_length_limit",
                  "label_value_length_limit", "target_limit", "keep_dropped_targets"):
            if getattr(sc, f) is None:
                upd[f] = getattr(g, f)
        native = sc.scrape_native_histograms
        if native is None:
            native = upd["scrape_native_histograms"] = g.scrape_native_histograms
        if sc.scrape_protocols is None:
            upd["scrape_protocols"] = g.scrape_protocols or (
                PROTO_FIRST_SCRAPE_PROTOCOLS if native or proto_first else SCRAPE_PROTOCOLS)
        scheme = sc.metric_name_validation_scheme or g.metric_name_validation_scheme or "utf8"
        upd["metric_name_validation_scheme"] = scheme
        if sc.metric_name_escaping_scheme is None:
            upd["metric_name_escaping_scheme"] = g.metric_name_escaping_scheme or (
                "allow-utf-8" if scheme == "utf8" else "underscores")
        if sc.always_scrape_classic_histograms is None:
            upd["always_scrape_classic_histograms"] = g.always_scrape_classic_histograms
        if sc.convert_classic_histograms_to_nhcb is None:
            upd["convert_classic_histograms_to_nhcb"] = g.convert_classic_histograms_to_nhcb
        jobs.append(sc.model_copy(update=upd))
    return cfg.model_copy(update={"global_": g, "scrape_configs": tuple(jobs)})


def findings_to_issues(src: YamlSource, findings: list[Finding]) -> list[ConfigIssue]:
    return [src.issue(path, msg, severity=sev) for path, msg, sev in findings]


def parse_prometheus_config(
    src: YamlSource, data: Any = None, *, proto_first: bool = False,
) -> tuple[PrometheusConfig | None, list[ConfigIssue]]:
    """Validate a prometheus.yml document.

    Parts that fail the schema are set aside and the rest is still cross-checked, so one run
    lists every problem.  The returned config (None only when nothing could be salvaged) lets
    the loader go on to check the rule files it names; callers must treat any issue of
    severity "error" as a failed load and never run such a config.

    ``data`` defaults to the whole document (a guardia.yml passes it without its own keys).
    Every problem is returned, schema errors and cross-field errors alike, so one run of
    ``guardia check config`` lists them all.
    """
    payload = src.data if data is None else data
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        msg = "a prometheus.yml must be a mapping of sections (global, scrape_configs, ...)"
        return None, [src.issue((), msg)]
    payload, sd = strip_unsupported_sd(payload)
    issues = [src.issue(path, msg, severity=sev, at_key=True) for path, msg, sev in sd]
    # On schema errors, what did validate is checked too, so cross-field errors show up in
    # the same run.
    cfg, schema, index_map = validate_salvaging(PrometheusConfig, payload, src)
    issues += schema
    if cfg is None:
        return None, issues
    findings = check_prometheus(cfg) + placeholder_findings(cfg)
    if schema:
        # Warnings about a salvaged document may only reflect the parts set aside.
        findings = [f for f in findings if f[2] == "error"]
    issues += findings_to_issues(src, [(remap_path(p, index_map), m, s) for p, m, s in findings])
    return resolve_defaults(cfg, proto_first=proto_first), issues
