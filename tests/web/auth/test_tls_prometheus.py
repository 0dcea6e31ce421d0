"""guardia behind TLS (client certificates required) and basic auth, with Debian's Prometheus
scraping it and promtool querying it, both through the web config's protections; HTTP/2 is
negotiated by ALPN."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.web.auth.conftest import PASSWORDS, make_chain, running, web_yaml

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package is not installed",
)


def _tls_yaml(chain_dir: Path, client_auth: str = "RequireAndVerifyClientCert") -> str:
    return (
        f"tls_server_config:\n  cert_file: {chain_dir}/server.pem\n  key_file: {chain_dir}/server.key\n"
        f"  client_auth_type: {client_auth}\n  client_ca_file: {chain_dir}/ca.pem\n  min_version: TLS12\n"
    )


def _client(chain: object, cert: tuple[Path, Path] | None, http2: bool = False) -> httpx.AsyncClient:
    ctx = ssl.create_default_context(cafile=str(chain.ca))  # type: ignore[attr-defined]
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return httpx.AsyncClient(verify=ctx, http2=http2, timeout=20)


async def test_tls_with_client_certificates_basic_auth_and_http2(tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "pki")
    async with running(tmp_path, web_yaml(extra=_tls_yaml(tmp_path / "pki"))) as proc:
        url = f"https://{proc.listen}"
        auth = ("vic", PASSWORDS["vic"])
        async with _client(chain, (chain.client_cert, chain.client_key), http2=True) as c:
            r = await c.get(f"{url}/api/v1/query", params={"query": "1+1"}, auth=auth)
            assert r.status_code == 200 and r.http_version == "HTTP/2", (r.status_code, r.http_version)
            assert r.json()["data"]["result"][1] == "2"
            assert r.headers["strict-transport-security"].startswith("max-age=")
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert (await c.get(f"{url}/api/v1/query", params={"query": "1"})).status_code == 401
            assert (await c.get(f"{url}/-/healthy")).status_code == 200  # public: health
        async with _client(chain, (chain.client_cert, chain.client_key)) as c:
            r = await c.get(f"{url}/metrics", auth=auth)
            assert r.status_code == 200 and r.http_version == "HTTP/1.1"
        # no client certificate, or one from a CA the server does not trust: the handshake fails
        for cert in (None, (chain.other_client_cert, chain.other_client_key)):
            async with _client(chain, cert) as c:
                with pytest.raises(httpx.HTTPError):
                    await c.get(f"{url}/-/healthy")
        # plain HTTP on the TLS port gets nothing useful
        async with httpx.AsyncClient(timeout=5) as c:
            with pytest.raises(httpx.HTTPError):
                await c.get(f"http://{proc.listen}/-/healthy")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_prometheus
async def test_prometheus_scrapes_and_promtool_queries_guardia_through_tls_and_basic_auth(
    tmp_path: Path,
) -> None:
    chain = make_chain(tmp_path / "pki")
    async with running(tmp_path, web_yaml(extra=_tls_yaml(tmp_path / "pki"))) as proc:
        host, port = proc.listen.rsplit(":", 1)
        tls = (
            f"    tls_config:\n      ca_file: {chain.ca}\n      cert_file: {chain.client_cert}\n"
            f"      key_file: {chain.client_key}\n      server_name: localhost\n"
        )
        (tmp_path / "prom.yml").write_text(
            "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: guardia\n    scheme: https\n"
            f"    basic_auth: {{username: vic, password: {PASSWORDS['vic']}}}\n{tls}"
            f"    static_configs: [{{targets: ['localhost:{port}']}}]\n"
        )
        prom_port = _free_port()
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp_path / 'prom.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            target: dict[str, object] = {}
            async with httpx.AsyncClient(timeout=5) as c:
                deadline = time.monotonic() + 40
                while time.monotonic() < deadline:
                    try:
                        r = await c.get(f"http://127.0.0.1:{prom_port}/api/v1/targets")
                        active = r.json()["data"]["activeTargets"]
                        if active and active[0]["health"] != "unknown":
                            target = active[0]
                            break
                    except (httpx.HTTPError, ValueError, KeyError):
                        pass
                    await asyncio.sleep(0.5)
            assert target.get("health") == "up", target
        finally:
            prom.terminate()
            prom.wait(10)
    # promtool 2.42 has no --http.config.file: it takes basic auth from the URL and the CA from
    # SSL_CERT_FILE, and cannot present a client certificate, so it queries a guardia that
    # verifies certificates only when given
    promtool_env = {"SSL_CERT_FILE": str(chain.ca), "PATH": "/usr/bin:/bin"}
    async with running(
        tmp_path / "second", web_yaml(extra=_tls_yaml(tmp_path / "pki", "VerifyClientCertIfGiven"))
    ) as proc2:
        port2 = proc2.listen.rsplit(":", 1)[1]

        def promtool(password: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["promtool", "query", "instant", f"https://vic:{password}@localhost:{port2}", "1+41"],
                capture_output=True,
                text=True,
                timeout=60,
                env=promtool_env,
            )

        out = await asyncio.to_thread(promtool, PASSWORDS["vic"])
        assert out.returncode == 0 and "42" in out.stdout, out.stderr
        out = await asyncio.to_thread(promtool, "wrong")
        assert out.returncode != 0 and "401" in (out.stderr + out.stdout), out.stderr
        # with a certificate from a CA it does not trust, the handshake fails all the same
        async with _client(chain, (chain.other_client_cert, chain.other_client_key)) as c:
            with pytest.raises(httpx.HTTPError):
                await c.get(f"https://{proc2.listen}/-/healthy")
    assert host == "127.0.0.1"
