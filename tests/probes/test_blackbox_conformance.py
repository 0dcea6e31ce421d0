"""The Debian Blackbox exporter and guardia probe the same local targets with the same modules.

Both answer ``/probe``; the test compares them metric by metric: the same metric names and
label sets, and the same values for everything that is not a timing (success, status codes,
lengths, redirects, TLS facts, DNS record counts, address hash).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from guardia.probes.modules import load_modules_file
from guardia.web.plain_router import Router
from guardia.web.probe_api import probe_routes
from tests.probes.conftest import Targets
from tests.probes.servers import free_port

EXPORTER = shutil.which("prometheus-blackbox-exporter")
pytestmark = pytest.mark.skipif(
    EXPORTER is None,
    reason="Debian prometheus-blackbox-exporter is not installed (scripts/system-packages.txt)")

TIMINGS = re.compile(r"_duration_seconds$|_lookup_time_seconds$")

MODULES = """
modules:
  http_2xx:
    prober: http
  http_post_2xx:
    prober: http
    http:
      method: POST
      body: hello
  http_ca:
    prober: http
    http:
      tls_config:
        ca_file: {ca}
  http_insecure:
    prober: http
    http:
      tls_config:
        insecure_skip_verify: true
  http_body_up:
    prober: http
    http:
      fail_if_body_not_matches_regexp: ['"status": "UP"']
      fail_if_header_matches:
        - header: X-Bad
          regexp: "yes"
          allow_missing: true
  http_no_redirects:
    prober: http
    http:
      follow_redirects: false
      valid_status_codes: [302]
  http_ip4:
    prober: http
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
  ssh_banner:
    prober: tcp
    tcp:
      query_response:
      - expect: "^SSH-2.0-"
      - send: "SSH-2.0-blackbox-ssh-check"
  banner_mismatch:
    prober: tcp
    tcp:
      query_response:
      - expect: "^220 "
  tcp_tls_ca:
    prober: tcp
    tcp:
      tls: true
      tls_config:
        ca_file: {ca}
  dns_a:
    prober: dns
    dns:
      query_name: example.com
      query_type: A
      validate_answer_rrs:
        fail_if_not_matches_regexp: ["example.com.\\t300\\tIN\\tA\\t192.0.2.10"]
  dns_soa:
    prober: dns
    dns:
      query_name: soa.example.com
      query_type: SOA
  dns_tcp:
    prober: dns
    dns:
      transport_protocol: tcp
      query_name: example.com
      query_type: A
  dns_nx:
    prober: dns
    dns:
      query_name: missing.example.com
      query_type: A
  dns_wrong_answer:
    prober: dns
    dns:
      query_name: example.com
      query_type: A
      validate_answer_rrs:
        fail_if_matches_regexp: ["192\\\\.0\\\\.2\\\\.10"]
  icmp:
    prober: icmp
    timeout: 3s
  grpc_plain:
    prober: grpc
    grpc:
      tls: false
  grpc_sick:
    prober: grpc
    grpc:
      tls: false
      service: sick
  grpc_tls:
    prober: grpc
    grpc:
      tls: true
      tls_config: {{ca_file: {ca}}}
"""


def cases(t: Targets) -> list[tuple[str, str]]:
    return [
        (t.http + "/health", "http_2xx"),
        (f"http://{t.http}/health", "http_post_2xx"),
        (f"http://{t.http}/error", "http_2xx"),
        (f"http://{t.http}/redirect", "http_2xx"),
        (f"http://{t.http}/redirect", "http_no_redirects"),
        (f"http://{t.http}/chunked", "http_2xx"),
        (f"http://{t.http}/health", "http_body_up"),
        (f"http://{t.http}/down", "http_body_up"),
        (f"http://{t.http}/missing", "http_2xx"),
        (f"http://localhost:{t.http.split(':')[1]}/health", "http_ip4"),
        (f"https://{t.https['good']}/health", "http_ca"),
        (f"https://{t.https['expiring']}/health", "http_ca"),
        (f"https://{t.https['wrongname']}/health", "http_ca"),
        (f"https://{t.https['wrongname']}/health", "http_insecure"),
        (f"https://{t.https['good']}/health", "http_2xx"),
        ("127.0.0.1:1", "http_2xx"),
        (t.banner, "tcp_connect"),
        (t.banner, "ssh_banner"),
        (t.banner, "banner_mismatch"),
        ("127.0.0.1:1", "tcp_connect"),
        (t.https["good"], "tcp_tls_ca"),
        (t.https["wrongname"], "tcp_tls_ca"),
        (t.dns, "dns_a"),
        (t.dns, "dns_soa"),
        (t.dns, "dns_tcp"),
        (t.dns, "dns_nx"),
        (t.dns, "dns_wrong_answer"),
        ("127.0.0.1", "icmp"),
        (t.grpc, "grpc_plain"),
        (t.grpc, "grpc_sick"),
        (t.grpc_tls, "grpc_tls"),
    ]


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        assert m, line
        labels = tuple(sorted(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out.setdefault(m.group(1), {})[labels] = float(m.group(3))
    return out


@pytest.fixture(scope="module")
def modules_file(tmp_path_factory: pytest.TempPathFactory, targets: Targets) -> Path:
    path = tmp_path_factory.mktemp("bb") / "blackbox.yml"
    path.write_text(MODULES.format(ca=targets.ca_file))
    return path


@pytest.fixture(scope="module")
def exporter(modules_file: Path) -> Iterator[str]:
    assert EXPORTER is not None
    port = free_port()
    args = [EXPORTER, f"--config.file={modules_file}", f"--web.listen-address=127.0.0.1:{port}"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/healthy", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"blackbox exporter did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
    yield url
    proc.terminate()
    proc.wait(5)


@pytest.fixture(scope="module")
def guardia(modules_file: Path) -> Iterator[TestClient]:
    mods = load_modules_file(str(modules_file))
    with TestClient(Router(probe_routes(lambda: mods))) as client:
        yield client


def test_same_metrics_as_the_blackbox_exporter(targets: Targets, exporter: str, guardia: TestClient) -> None:
    mismatches = []
    for target, module in cases(targets):
        params = {"target": target, "module": module}
        theirs = parse(httpx.get(exporter + "/probe", params=params, timeout=10).text)
        resp = guardia.get("/probe", params=params)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        ours = parse(resp.text)
        where = f"{module} {target}"
        if set(ours) != set(theirs):
            mismatches.append(f"{where}: names only ours {sorted(set(ours) - set(theirs))}, "
                              f"only theirs {sorted(set(theirs) - set(ours))}")
            continue
        for name, series in theirs.items():
            if set(series) != set(ours[name]):
                mismatches.append(f"{where}: {name} labels {sorted(ours[name])} != {sorted(series)}")
                continue
            if TIMINGS.search(name):
                continue
            for labels, value in series.items():
                if ours[name][labels] != value:
                    mismatches.append(f"{where}: {name}{dict(labels)} = {ours[name][labels]}, "
                                      f"exporter {value}")
    assert not mismatches, "\n".join(mismatches)


def test_missing_target_and_unknown_module_answer_as_the_exporter(exporter: str, guardia: TestClient) -> None:
    for params in ({"module": "http_2xx"}, {"target": "127.0.0.1:1", "module": "nope"}):
        theirs = httpx.get(exporter + "/probe", params=params, timeout=5)
        ours = guardia.get("/probe", params=params)
        assert ours.status_code == theirs.status_code == 400
        assert ours.text.strip() == theirs.text.strip()
