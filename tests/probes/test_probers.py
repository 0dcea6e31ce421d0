"""Each prober against a real local server: success, the failure reason, and the phase timings."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from guardia.config.httpclient import TLSConfig
from guardia.probes.modules import Module
from guardia.probes.prober import run_probe
from guardia.probes.result import ProbeResult
from tests.probes.conftest import Targets


def probe(target: str, module: dict[str, Any], timeout: float = 5.0) -> ProbeResult:
    return asyncio.run(run_probe(target, Module.model_validate(module), timeout))


def phases(r: ProbeResult, name: str) -> dict[str, float]:
    return {dict(labels)["phase"]: v for labels, v in r.gauges[name].items()}


def test_http_success_records_every_phase(targets: Targets) -> None:
    r = probe(f"http://{targets.http}/health", {"prober": "http"})
    assert r.success and r.reason == ""
    p = phases(r, "probe_http_duration_seconds")
    assert set(p) == {"resolve", "connect", "tls", "processing", "transfer"}
    assert p["connect"] > 0 and p["processing"] > 0 and p["tls"] == 0
    assert r.get("probe_http_status_code") == 200


def test_https_records_tls_phase_and_certificate_expiry(targets: Targets) -> None:
    r = probe(f"https://{targets.https['expiring']}/health",
              {"prober": "http", "http": {"tls_config": {"ca_file": str(targets.ca_file)}}})
    assert r.success
    assert phases(r, "probe_http_duration_seconds")["tls"] > 0
    assert r.get("probe_ssl_earliest_cert_expiry") == targets.leaves["expiring"].not_after.timestamp()


def test_wrong_hostname_fails_with_a_reason_naming_the_host(targets: Targets) -> None:
    r = probe(f"https://{targets.https['wrongname']}/health",
              {"prober": "http", "http": {"tls_config": {"ca_file": str(targets.ca_file)}}})
    assert not r.success
    assert "not valid for localhost" in r.reason


def test_unknown_authority_says_to_set_ca_file(targets: Targets) -> None:
    r = probe(f"https://{targets.https['good']}/health", {"prober": "http"})
    assert not r.success and "ca_file" in r.reason


def test_bad_status_reason(targets: Targets) -> None:
    r = probe(f"http://{targets.http}/error", {"prober": "http"})
    assert r.reason == "HTTP status 503 is not one of the valid status codes (2xx)"


def test_redirect_loop_stops_after_ten(targets: Targets) -> None:
    r = probe(f"http://{targets.http}/loop", {"prober": "http"})
    assert not r.success and "redirects" in r.reason


def test_gzip_body_is_decoded_and_counted_uncompressed(targets: Targets) -> None:
    r = probe(f"http://{targets.http}/gzip", {"prober": "http", "http": {
        "compression": "gzip", "fail_if_body_not_matches_regexp": ["compressed body"]}})
    assert r.success
    assert r.get("probe_http_uncompressed_body_length") == len(b"compressed body " * 10)


def test_bearer_token_is_sent(targets: Targets) -> None:
    ok = probe(f"http://{targets.http}/auth", {"prober": "http", "http": {"bearer_token": "s3cret-token"}})
    no = probe(f"http://{targets.http}/auth", {"prober": "http"})
    assert ok.success and not no.success


def test_header_regex_failure_sets_failed_due_to_regex(targets: Targets) -> None:
    r = probe(f"http://{targets.http}/down", {"prober": "http", "http": {
        "fail_if_header_matches": [{"header": "X-Bad", "regexp": "yes"}]}})
    assert not r.success and r.get("probe_failed_due_to_regex") == 1
    assert "X-Bad" in r.reason


def test_timeout_keeps_the_phases_done_so_far(targets: Targets) -> None:
    r = probe(f"http://{targets.http}/slow", {"prober": "http"}, timeout=0.5)
    assert not r.success and r.reason == "timed out after 0.5s"
    assert phases(r, "probe_http_duration_seconds")["connect"] > 0


def test_tcp_banner_and_mismatch_reason(targets: Targets) -> None:
    ok = probe(targets.banner, {"prober": "tcp", "tcp": {"query_response": [{"expect": "^SSH-2.0-"}]}})
    bad = probe(targets.banner, {"prober": "tcp", "tcp": {"query_response": [{"expect": "^220 "}]}})
    assert ok.success
    assert not bad.success and "'^220 '" in bad.reason and bad.get("probe_failed_due_to_regex") == 1


def test_tcp_refused_reason() -> None:
    r = probe("127.0.0.1:1", {"prober": "tcp"})
    assert r.reason == "connection to 127.0.0.1:1 failed: Connection refused"


def test_dns_answer_and_phases(targets: Targets) -> None:
    r = probe(targets.dns, {"prober": "dns", "dns": {"query_name": "example.com", "query_type": "A"}})
    assert r.success
    assert r.get("probe_dns_answer_rrs") == 1 and r.get("probe_dns_authority_rrs") == 1
    assert set(phases(r, "probe_dns_duration_seconds")) == {"resolve", "connect", "request"}


def test_dns_rcode_failure(targets: Targets) -> None:
    r = probe(targets.dns, {"prober": "dns", "dns": {"query_name": "nope.example.com", "query_type": "A"}})
    assert r.reason == "DNS rcode NXDOMAIN is not one of the valid rcodes (NOERROR)"


def test_dns_module_without_query_name_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="query_name"):
        Module.model_validate({"prober": "dns"})


def test_websocket_connect_and_round_trip(targets: Targets) -> None:
    r = probe(targets.ws, {"prober": "websocket", "websocket": {"send": "ping", "expect": "^echo: ping$"}})
    assert r.success, r.reason
    p = phases(r, "probe_websocket_duration_seconds")
    assert p["connect"] > 0 and p["message"] > 0
    assert r.get("probe_websocket_message_received") == 1


def test_websocket_refused_upgrade_reason(targets: Targets) -> None:
    r = probe(f"ws://{targets.http}/health", {"prober": "websocket"})
    assert not r.success and "WebSocket upgrade refused with HTTP status" in r.reason


def test_grpc_health_serving_and_not_serving(targets: Targets) -> None:
    ok = probe(targets.grpc, {"prober": "grpc"})
    sick = probe(targets.grpc, {"prober": "grpc", "grpc": {"service": "sick"}})
    assert ok.success and ok.get("probe_grpc_healthcheck_response", (("serving_status", "SERVING"),)) == 1
    assert set(phases(ok, "probe_grpc_duration_seconds")) == {"resolve", "check"}
    assert not sick.success and sick.reason == "gRPC service sick is NOT_SERVING"


def test_icmp_echo_or_a_clear_permission_error() -> None:
    r = probe("127.0.0.1", {"prober": "icmp"})
    if r.success:
        assert phases(r, "probe_icmp_duration_seconds")["rtt"] > 0
    else:
        assert "net.ipv4.ping_group_range" in r.reason


def test_icmp_permission_error_names_the_sysctl(monkeypatch: pytest.MonkeyPatch) -> None:
    from guardia.probes.icmp import ICMPPermissionError, open_icmp_socket

    def refuse(*args: Any, **kwargs: Any) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("guardia.probes.icmp.socket.socket", refuse)
    with pytest.raises(ICMPPermissionError, match=r"net\.ipv4\.ping_group_range.*CAP_NET_RAW"):
        open_icmp_socket(socket.AF_INET)


def test_tls_context_is_built_once_per_tls_config() -> None:
    from guardia.probes.tlsinfo import client_context

    insecure = TLSConfig(insecure_skip_verify=True)
    assert client_context(insecure) is client_context(TLSConfig(insecure_skip_verify=True))
