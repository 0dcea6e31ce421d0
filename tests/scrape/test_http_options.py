"""HTTP options: HTTPS with tls_config, basic_auth, authorization, params, headers, proxy off."""

from __future__ import annotations

import base64
import ssl
import subprocess
from pathlib import Path

import pytest

from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.request import make_client
from guardia.scrape.target import Target, populate_labels, scrape_url
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Sink, close, job, respond, select


@pytest.fixture(params=["direct", "httpx"])
def via(request: pytest.FixtureRequest) -> str:
    """Both HTTP paths: the built-in client, and httpx (used when a proxy is configured)."""
    return str(request.param)

def _loop(address: str, storage: MemoryStorage, extra: str, via: str) -> ScrapeLoop:
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{address}']}}]\n{extra}")
    final, pre = populate_labels({"__address__": address}, cfg)
    assert final is not None
    return ScrapeLoop(Target("t", final, pre), cfg, storage, make_client(cfg) if via == "httpx" else None)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return crt, key


async def test_https_with_ca_file_and_basic_auth(
    cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # must be ignored: proxy is off by default
    crt, key = cert
    sink = Sink(respond("secure 1\n"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    sink.server.socket = ctx.wrap_socket(sink.server.socket, server_side=True)
    storage = MemoryStorage()
    extra = (
        f"    scheme: https\n    tls_config: {{ca_file: '{crt}'}}\n"
        "    basic_auth: {username: u, password: p}\n"
        "    params: {module: [http_2xx], target: ['a b']}\n"
    )
    loop = _loop(sink.address, storage, extra, via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "up", loop.target.last_error
    req = sink.requests[0]
    assert req["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert req["path"] == "/metrics?module=http_2xx&target=a+b"
    assert req["x-prometheus-scrape-timeout-seconds"] == "10"
    assert req["accept-encoding"] == "gzip"
    assert select(storage, __name__="secure")


async def test_https_without_trusted_ca_fails_with_the_reason(cert: tuple[Path, Path], via: str) -> None:
    crt, key = cert
    sink = Sink(respond("secure 1\n"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    sink.server.socket = ctx.wrap_socket(sink.server.socket, server_side=True)
    loop = _loop(sink.address, MemoryStorage(), "    scheme: https\n", via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "down"
    assert "CERTIFICATE_VERIFY_FAILED" in loop.target.last_error


async def test_authorization_header_and_no_compression(via: str) -> None:
    sink = Sink(respond("x 1\n"))
    loop = _loop(sink.address, MemoryStorage(),
                 "    authorization: {credentials: tok}\n    enable_compression: false\n", via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert sink.requests[0]["authorization"] == "Bearer tok"
    assert sink.requests[0]["accept-encoding"] == "identity"


def test_phase_is_stable_across_restarts() -> None:
    cfg = job("scrape_configs:\n  - job_name: t\n    scrape_interval: 15s\n"
              "    static_configs: [{targets: ['h:1']}]\n")
    final, pre = populate_labels({"__address__": "h:1"}, cfg)
    assert final is not None
    t1, t2 = Target("t", dict(final), pre), Target("t", dict(final), pre)
    assert t1.offset_ms(7) == t2.offset_ms(7)
    assert 0 <= t1.offset_ms(7) < 15_000
    loop = ScrapeLoop(t1, cfg, MemoryStorage(), jitter_seed=7)
    # Both starts land on the same point of the 15s grid.
    for now in (1000.0, 1003.3):
        at = now + loop.first_delay(now)
        assert round(at * 1000) % 15_000 == t1.offset_ms(7)


async def test_scrape_protocols_shape_the_accept_header(via: str) -> None:
    sink = Sink(respond("x 1\n"))
    loop = _loop(sink.address, MemoryStorage(), "    scrape_protocols: [PrometheusText0.0.4]\n", via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert sink.requests[0]["accept"] == "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"


async def test_unsupported_content_type_fails_unless_a_fallback_is_set(via: str) -> None:
    sink = Sink(respond("x 1\n", "text/html"))
    storage = MemoryStorage()
    loop = _loop(sink.address, storage, "", via)
    fallback = _loop(sink.address, storage, "    fallback_scrape_protocol: PrometheusText0.0.4\n", via)
    try:
        await loop.scrape_once()
        await fallback.scrape_once()
    finally:
        await close(loop)
        await close(fallback)
        sink.close()
    assert "unsupported Content-Type 'text/html'" in loop.target.last_error
    assert fallback.target.health == "up", fallback.target.last_error


async def test_redirects_and_chunked_bodies(via: str) -> None:
    from http.server import BaseHTTPRequestHandler

    def handler(req: BaseHTTPRequestHandler) -> None:
        if req.path == "/metrics":
            req.send_response(302)
            req.send_header("Location", "/real")
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        req.send_response(200)
        req.send_header("Content-Type", "text/plain; version=0.0.4")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        for part in (b"a 1\n", b"b 2\n"):
            req.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        req.wfile.write(b"0\r\n\r\n")

    sink = Sink(handler)
    storage = MemoryStorage()
    loop = _loop(sink.address, storage, "", via)
    try:
        await loop.scrape_once()
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "up", loop.target.last_error
    assert [r["path"] for r in sink.requests] == ["/metrics", "/real"] * 2
    (b,) = select(storage, __name__="b")
    assert b.values.tolist() == [2.0, 2.0]


async def test_credentials_file_is_reread_on_every_scrape(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    sink = Sink(respond("x 1\n"))
    extra = f"    authorization: {{credentials_file: '{token}'}}\n"
    loop = _loop(sink.address, MemoryStorage(), extra, "direct")
    try:
        await loop.scrape_once()
        token.write_text("two\n")
        await loop.scrape_once()
        token.unlink()
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert [r["authorization"] for r in sink.requests] == ["Bearer one", "Bearer two"]
    assert loop.target.health == "down"
    assert "cannot read the scrape credentials" in loop.target.last_error


async def test_mutual_tls_with_a_client_certificate(cert: tuple[Path, Path], via: str) -> None:
    crt, key = cert
    sink = Sink(respond("mtls 1\n"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    ctx.load_verify_locations(crt)
    ctx.verify_mode = ssl.CERT_REQUIRED
    sink.server.socket = ctx.wrap_socket(sink.server.socket, server_side=True)
    storage = MemoryStorage()
    tls = f"{{ca_file: '{crt}', cert_file: '{crt}', key_file: '{key}'}}"
    extra = f"    scheme: https\n    tls_config: {tls}\n"
    loop = _loop(sink.address, storage, extra, via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
        sink.close()
    assert loop.target.health == "up", loop.target.last_error
    assert select(storage, __name__="mtls")


async def test_proxy_url_scrapes_through_a_real_proxy(tmp_path: Path) -> None:
    """A job with proxy_url is scraped through it (tinyproxy forwards and logs the request)."""
    from tests.tinyproxy import tinyproxy

    sink = Sink(respond("proxied 1\n"))
    storage = MemoryStorage()
    with tinyproxy(tmp_path) as proxy:
        loop = _loop(sink.address, storage, f"    proxy_url: '{proxy.url}'\n", "httpx")
        try:
            await loop.scrape_once()
        finally:
            await close(loop)
            sink.close()
        assert proxy.forwarded() == [f"GET http://{sink.address}/metrics HTTP/1.1"]
    assert loop.target.health == "up", loop.target.last_error
    assert "tinyproxy" in sink.requests[0]["via"]
    assert select(storage, __name__="proxied")


def test_federation_params_as_prometheus_docs_write_them() -> None:
    """``params: {"match[]": [...]}`` gives the internal label ``__param_match[]``, which is no
    valid label name and need not be: internal labels never reach a series (a target with it
    was dropped before, so federating another guardia or Prometheus did nothing)."""
    cfg = job("scrape_configs:\n  - job_name: federate\n    honor_labels: true\n"
              "    metrics_path: /federate\n"
              "    params: {'match[]': ['{job=\"prometheus\"}', '{__name__=~\"job:.*\"}']}\n"
              "    static_configs: [{targets: ['peer:9090']}]\n")
    final, _ = populate_labels({"__address__": "peer:9090"}, cfg)
    assert final is not None and final["__param_match[]"] == '{job="prometheus"}'
    # every match[] is sent, as Prometheus sends them (a __param_ label replaces the first only)
    assert scrape_url(final, cfg.params) == ("http://peer:9090/federate?match%5B%5D=%7Bjob%3D%22prometheus%22%7D"
                                             "&match%5B%5D=%7B__name__%3D~%22job%3A.%2A%22%7D")
    final["__param_match[]"] = "up"
    assert scrape_url(final, cfg.params) == ("http://peer:9090/federate?match%5B%5D=up"
                                             "&match%5B%5D=%7B__name__%3D~%22job%3A.%2A%22%7D")
    # a public label with a bad name still stops the target, naming it
    bad = job("scrape_configs:\n  - job_name: t\n    static_configs: [{targets: ['h:1'], labels: {ok: x}}]\n")
    with pytest.raises(ValueError, match="'bad-name' is not a valid label name"):
        populate_labels({"__address__": "h:1", "bad-name": "x"}, bad)
