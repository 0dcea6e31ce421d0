from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.probes import servers
from tests.probes.certs import Leaf, make_pki


@dataclass
class Targets:
    http: str  # 127.0.0.1:port
    https: dict[str, str]  # kind -> localhost:port
    banner: str
    dns: str
    ws: str
    grpc: str
    grpc_tls: str  # localhost:port, certificate of leaves["good"]
    ca_file: Path
    leaves: dict[str, Leaf]
    grpc_servicer: object


@pytest.fixture(scope="session")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    d = tmp_path_factory.mktemp("pki")
    ca, leaves = make_pki(d)
    started: list[object] = []
    http = servers.start_http()
    started.append(http)
    https = {}
    for kind, leaf in leaves.items():
        srv = servers.start_http(leaf.cert, leaf.key)
        started.append(srv)
        https[kind] = f"localhost:{srv.server_address[1]}"
    banner = servers.start_banner()
    started.append(banner)
    dns = servers.start_dns()
    ws, ws_port = servers.start_websocket()
    grpc_server, servicer, grpc_port = servers.start_grpc_health()
    good = leaves["good"]
    grpc_tls_server, _, grpc_tls_port = servers.start_grpc_health((good.cert, good.key))
    yield Targets(
        http=f"127.0.0.1:{http.server_address[1]}", https=https,
        banner=f"127.0.0.1:{banner.server_address[1]}", dns=f"127.0.0.1:{dns.port}",
        ws=f"ws://127.0.0.1:{ws_port}/", grpc=f"127.0.0.1:{grpc_port}",
        grpc_tls=f"localhost:{grpc_tls_port}", ca_file=ca, leaves=leaves,
        grpc_servicer=servicer,
    )
    for srv in started:
        srv.shutdown()  # type: ignore[attr-defined]
    dns.stop()
    dns.tcp_server.stop()
    ws.shutdown()
    grpc_server.stop(0)
    grpc_tls_server.stop(0)
