"""One probe's outcome: the Blackbox exporter's gauges, success, and why it failed.

Each prober sets gauges by name as it goes (a failed probe still reports the phases it got
through, as the exporter does) and calls ``fail(reason)`` with a sentence an operator can act
on.  The same result is rendered as the exporter's ``/probe`` text and appended to storage as
``probe_*`` series, so dashboards built for the exporter read either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from guardia.model.histogram import go_g
from guardia.model.labels import escape_label_value

HELP: dict[str, str] = {
    "probe_success": "Displays whether or not the probe was a success",
    "probe_duration_seconds": "Returns how long the probe took to complete in seconds",
    "probe_dns_lookup_time_seconds": "Returns the time taken for probe dns lookup in seconds",
    "probe_ip_protocol": "Specifies whether probe ip protocol is IP4 or IP6",
    "probe_ip_addr_hash":
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
    "probe_failed_due_to_regex": "Indicates if probe failed due to regex",
    "probe_http_duration_seconds": "Duration of http request by phase, summed over all redirects",
    "probe_http_content_length": "Length of http content response",
    "probe_http_uncompressed_body_length": "Length of uncompressed response body",
    "probe_http_redirects": "The number of redirects",
    "probe_http_ssl": "Indicates if SSL was used for the final redirect",
    "probe_http_status_code": "Response HTTP status code",
    "probe_http_version": "Returns the version of HTTP of the probe response",
    "probe_http_last_modified_timestamp_seconds":
        "Returns the Last-Modified HTTP response header in unixtime",
    "probe_ssl_earliest_cert_expiry": "Returns last SSL chain expiry in unixtime",
    "probe_ssl_last_chain_expiry_timestamp_seconds": "Returns last SSL chain expiry in timestamp",
    "probe_ssl_last_chain_info": "Contains SSL leaf certificate information",
    "probe_tls_version_info": "Returns the TLS version used or NaN when unknown",
    "probe_dns_duration_seconds": "Duration of DNS request by phase",
    "probe_dns_answer_rrs": "Returns number of entries in the answer resource record list",
    "probe_dns_authority_rrs": "Returns number of entries in the authority resource record list",
    "probe_dns_additional_rrs": "Returns number of entries in the additional resource record list",
    "probe_dns_query_succeeded": "Displays whether or not the query was executed successfully",
    "probe_dns_serial": "Returns the serial number of the zone",
    "probe_icmp_duration_seconds": "Duration of icmp request by phase",
    "probe_icmp_reply_hop_limit": "Replied packet hop limit (TTL for ipv4)",
    "probe_grpc_duration_seconds": "Duration of gRPC request by phase",
    "probe_grpc_healthcheck_response": "Response HealthCheck response",
    "probe_grpc_ssl": "Indicates if SSL was used for the connection",
    "probe_grpc_status_code": "Response gRPC status code",
    "probe_websocket_duration_seconds": "Duration of the WebSocket probe by phase",
    "probe_websocket_message_received": "Whether the expected WebSocket message arrived",
    "heartbeat_last_push_timestamp_seconds": "When the job last pushed to its heartbeat URL, in unixtime",
}

LabelPairs = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class ProbeResult:
    """Gauges in the order they were first set, plus the verdict and the failure reason."""

    gauges: dict[str, dict[LabelPairs, float]] = field(default_factory=dict)
    success: bool = True
    reason: str = ""
    duration_s: float = 0.0
    # what a Gatus-style condition reads: [STATUS], [BODY], [CERTIFICATE_EXPIRATION], ...
    observed: dict[str, object] = field(default_factory=dict)

    def set(self, name: str, value: float, labels: LabelPairs = ()) -> None:
        self.gauges.setdefault(name, {})[labels] = float(value)

    def add(self, name: str, value: float, labels: LabelPairs = ()) -> None:
        series = self.gauges.setdefault(name, {})
        series[labels] = series.get(labels, 0.0) + value

    def get(self, name: str, labels: LabelPairs = ()) -> float | None:
        return self.gauges.get(name, {}).get(labels)

    def fail(self, reason: str) -> bool:
        """Mark the probe failed with ``reason`` (the first reason wins); returns False."""
        if self.success or not self.reason:
            self.reason = reason
        self.success = False
        return False

    def samples(self) -> Iterator[tuple[str, LabelPairs, float]]:
        for name, series in self.gauges.items():
            for labels, value in series.items():
                yield name, labels, value

    def render(self) -> str:
        """The exporter's ``/probe`` body: families sorted by name, each with HELP and TYPE."""
        out: list[str] = []
        for name in sorted(self.gauges):
            out.append(f"# HELP {name} {HELP.get(name, name)}")
            out.append(f"# TYPE {name} gauge")
            for labels, value in sorted(self.gauges[name].items()):
                if labels:
                    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
                    out.append(f"{name}{{{inner}}} {format_value(value)}")
                else:
                    out.append(f"{name} {format_value(value)}")
        return "\n".join(out) + "\n"


def format_value(v: float) -> str:
    """A sample value as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it, as the exporter
    does: shortest digits, exponent form below 1e-4 and from 1e6 up (``1.44541248e+09``)."""
    return go_g(v)


