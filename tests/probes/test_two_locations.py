"""Confirmation from a second location with two real guardias: each probes the same target
and federates the other's ``probe_success`` (``/federate``, ``honor_labels``, the peer's
``location`` external label). A failure seen from one place only stays pending; seen from
both, the target goes down "from 2 of 2 locations"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.probes.conftest import Targets
from tests.probes.servers import Handler
from tests.probes.test_status_browser import wait_for
from tests.test_serve import Serve

BASE = """
global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{location: {here}}}}}
scrape_configs: {peers}
probe_modules:
  http_here: {{prober: http, timeout: 2s, http: {{headers: {{X-Location: {here}}}}}}}
probes:
  - {{name: shop, module: http_here, targets: ["http://{http}/flaky?id=two-shop"], interval: 1s,
     confirm: {{min_locations: 2}}}}
"""
PEER = """
  - job_name: peers
    honor_labels: true
    metrics_path: /federate
    params: {{"match[]": ['probe_success{{job="shop"}}']}}
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""


@pytest.fixture
def pair(tmp_path: Path, targets: Targets) -> Iterator[dict[str, Serve]]:
    started: dict[str, Serve] = {}
    try:
        for here in ("madrid", "quito"):
            d = tmp_path / here
            d.mkdir()
            (d / "guardia.yml").write_text(BASE.format(here=here, peers="[]", http=targets.http))
            started[here] = Serve(d, "--config.file", str(d / "guardia.yml"))
        for s in started.values():
            s.wait_ready()
        # now that both ports are known, each federates the other
        for here, other in (("madrid", "quito"), ("quito", "madrid")):
            peers = PEER.format(port=started[other].port)
            cfg = BASE.format(here=here, peers=peers, http=targets.http)
            (tmp_path / here / "guardia.yml").write_text(cfg)
            assert started[here].http.post("/-/reload").status_code == 200
        yield started
    finally:
        Handler.failing -= {"two-shop@madrid", "two-shop@quito"}
        for s in started.values():
            if s.proc.poll() is None:
                s.stop()


def _state(s: Serve) -> tuple[str, str]:
    [m] = s.http.get("/api/v1/probes").json()["data"]
    [t] = m["targets"]
    return t["status"], t["reason"]


def test_down_only_when_two_locations_agree(pair: dict[str, Serve]) -> None:
    madrid, quito = pair["madrid"], pair["quito"]

    def sees_peer() -> bool:
        r = madrid.http.get("/api/v1/query", params={"query": 'probe_success{job="shop",location="quito"}'})
        return len(r.json()["data"]["result"]) == 1
    wait_for("madrid holds quito's federated probe_success", sees_peer)
    wait_for("both up", lambda: _state(madrid)[0] == _state(quito)[0] == "up")

    Handler.failing.add("two-shop@madrid")  # only madrid's requests fail
    wait_for("madrid sees the failure", lambda: "down from 1 of 2 locations" in _state(madrid)[1])
    for _ in range(3):  # several probes and federation rounds later it is still only pending
        wait_for("another probe round", lambda: True)
        assert _state(madrid)[0] == "pending", _state(madrid)
        assert _state(quito)[0] == "up"

    Handler.failing.add("two-shop@quito")  # now both places see it fail
    wait_for("down from both", lambda: _state(madrid)[0] == "down"
             and "down from 2 of 2 locations" in _state(madrid)[1])
    wait_for("quito agrees", lambda: _state(quito)[0] == "down"
             and "down from 2 of 2 locations" in _state(quito)[1])
