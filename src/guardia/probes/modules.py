"""Probe modules in the Blackbox exporter's own format, and the modules guardia ships with.

A team that runs the Blackbox exporter already has a ``blackbox.yml`` (``modules:`` mapping
a name to a ``prober`` and its settings).  The same file loads here unchanged, field for field,
so its modules, its ``/probe?module=`` URLs and the dashboards built on them keep working.
The exporter's example modules (``http_2xx``, ``tcp_connect``, ``icmp``, ...) are built in;
a modules file or an inline ``probe_modules:`` section may redefine them.

Regular expressions are Go's RE2; they are translated once here (``model.re2syntax``) and
compiled, so a bad pattern is a config error with its line, never a failed probe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Any, Literal

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.fields import Duration, PromModel
from guardia.config.httpclient import HTTPClientFields, TLSConfig
from guardia.config.schema import BeforeValidator, Field, ValidationError, model_validator
from guardia.config.validate import issues_from
from guardia.config.yamlsource import YamlSource, load_yaml, parse_yaml
from guardia.model.re2syntax import translate

PROBERS = ("http", "tcp", "dns", "icmp", "grpc", "websocket")
IPProtocol = Literal["ip4", "ip6", "tcp4", "tcp6", "udp4", "udp6", ""]


def compile_go_regex(pattern: str) -> re.Pattern[str]:
    """A Go (RE2) pattern as a compiled Python pattern; ``ValueError`` names what is wrong.

    RE2 accepts a repeated anchor (``^+OK``, in the exporter's own ``pop3s_banner``); Python
    refuses it, so an anchor followed by a repetition operator keeps the anchor alone.
    """
    text = translate(pattern)
    text = re.sub(r"(?<!\\)\^[+*?]", "^", text)
    try:
        return re.compile(text)
    except re.error as e:
        raise ValueError(f"invalid regular expression {pattern!r}: {e}") from None


class Regex:
    """A Go (RE2) regular expression from the config, compiled once; ``pattern`` is as written."""

    __slots__ = ("compiled", "pattern")
    __config_text__ = True

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.compiled = compile_go_regex(pattern)

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    @classmethod
    def __config_validate__(cls, value: Any) -> Regex:
        if isinstance(value, Regex):
            return value
        if not isinstance(value, str):
            raise ValueError("must be a regular expression (a string)")
        return cls(value)

    def __config_dump__(self) -> str:
        return self.pattern


def _status_codes(v: Any) -> Any:
    if isinstance(v, list | tuple):
        for code in v:
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                raise ValueError(f"{code!r} is not an HTTP status code (100-599)")
    return v


class HeaderMatch(PromModel):
    header: str
    regexp: Regex
    allow_missing: bool = False


class HTTPProbe(HTTPClientFields):
    """``http:`` of a module: the request to make and what makes its answer good."""

    valid_status_codes: Annotated[tuple[int, ...], BeforeValidator(_status_codes)] = ()
    valid_http_versions: tuple[str, ...] = ()
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    skip_resolve_phase_with_proxy: bool = False
    no_follow_redirects: bool | None = None
    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    fail_if_body_matches_regexp: tuple[Regex, ...] = ()
    fail_if_body_not_matches_regexp: tuple[Regex, ...] = ()
    fail_if_header_matches: tuple[HeaderMatch, ...] = ()
    fail_if_header_not_matches: tuple[HeaderMatch, ...] = ()
    body: str = ""
    body_file: str = ""
    compression: str = ""
    body_size_limit: int = 0

    @property
    def follows_redirects(self) -> bool:
        if self.no_follow_redirects is not None:
            return not self.no_follow_redirects
        return self.follow_redirects

    @property
    def uses_regex(self) -> bool:
        return bool(self.fail_if_body_matches_regexp or self.fail_if_body_not_matches_regexp
                    or self.fail_if_header_matches or self.fail_if_header_not_matches)


class QueryResponse(PromModel):
    expect: Regex | None = None
    send: str = ""
    starttls: bool = False


class TCPProbe(PromModel):
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str = ""
    query_response: tuple[QueryResponse, ...] = ()
    tls: bool = False
    tls_config: TLSConfig = Field(default_factory=TLSConfig)


class ICMPProbe(PromModel):
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str = ""
    payload_size: int = 0
    dont_fragment: bool = False
    ttl: int = 64


class RRValidator(PromModel):
    fail_if_matches_regexp: tuple[Regex, ...] = ()
    fail_if_all_match_regexp: tuple[Regex, ...] = ()
    fail_if_not_matches_regexp: tuple[Regex, ...] = ()
    fail_if_none_matches_regexp: tuple[Regex, ...] = ()


class DNSProbe(PromModel):
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str = ""
    transport_protocol: Literal["udp", "tcp"] = "udp"
    dns_over_tls: bool = False
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    query_class: str = "IN"
    query_name: str = ""
    query_type: str = "ANY"
    recursion_desired: bool = True
    valid_rcodes: tuple[str, ...] = ("NOERROR",)
    validate_answer_rrs: RRValidator = Field(default_factory=RRValidator)
    validate_authority_rrs: RRValidator = Field(default_factory=RRValidator)
    validate_additional_rrs: RRValidator = Field(default_factory=RRValidator)


class GRPCProbe(PromModel):
    service: str = ""
    tls: bool = False
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True


class WebSocketProbe(PromModel):
    """guardia's own prober (the exporter has none): connect, optionally send, expect."""

    headers: dict[str, str] = Field(default_factory=dict)
    send: str = ""
    expect: Regex | None = None
    subprotocols: tuple[str, ...] = ()
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True


class Module(PromModel):
    prober: Literal["http", "tcp", "dns", "icmp", "grpc", "websocket"]
    timeout: Duration = 0
    http: HTTPProbe = Field(default_factory=HTTPProbe)
    tcp: TCPProbe = Field(default_factory=TCPProbe)
    dns: DNSProbe = Field(default_factory=DNSProbe)
    icmp: ICMPProbe = Field(default_factory=ICMPProbe)
    grpc: GRPCProbe = Field(default_factory=GRPCProbe)
    websocket: WebSocketProbe = Field(default_factory=WebSocketProbe)

    @model_validator(mode="after")
    def _dns_needs_name(self) -> Module:
        if self.prober == "dns" and not self.dns.query_name:
            raise ValueError("a dns module needs dns.query_name (the name to ask the server for)")
        return self


class ModulesFile(PromModel):
    modules: dict[str, Module] = Field(default_factory=dict)


Modules = Mapping[str, Module]


def parse_modules(src: YamlSource, data: Any = None, base: tuple[str | int, ...] = ()) -> dict[str, Module]:
    """The ``modules:`` of a blackbox.yml (``data`` defaults to the whole document)."""
    payload = src.data if data is None else data
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ConfigError([src.issue(base, "a modules file is a mapping with a 'modules:' key, "
                                           "as in the Blackbox exporter's blackbox.yml")])
    try:
        return dict(ModulesFile.model_validate(payload).modules)
    except ValidationError as e:
        raise ConfigError(issues_from(e, src, base)) from None


def load_modules_file(path: str) -> dict[str, Module]:
    """A blackbox.yml from disk; errors name the file, line and field."""
    try:
        src = load_yaml(path)
    except OSError as e:
        raise ConfigError([ConfigIssue(path, None, None, "", f"cannot read modules file: {e}")]) from None
    return parse_modules(src)


@cache
def default_modules() -> Modules:
    """The exporter's example modules, built in (read once from ``default_modules.yml``)."""
    text = resources.files("guardia.probes").joinpath("default_modules.yml").read_text()
    return MappingProxyType(parse_modules(parse_yaml(text, "default_modules.yml")))
