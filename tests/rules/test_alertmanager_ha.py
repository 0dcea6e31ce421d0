"""guardia's alerts go to a pair of real Alertmanagers (Debian's) clustered with each other, and
the receiver is notified once: Alertmanager's own HA (gossip of the notification log), which
works because guardia sends every alert to every Alertmanager listed, as Prometheus does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.storage.remote.peers import Proc, free_port, guardia, need

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


class Sink:
    """A webhook receiver that keeps every notification posted to it."""

    def __init__(self) -> None:
        got: list[dict[str, Any]] = []
        self.got = got

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/hook"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    made: list[Proc] = []
    yield made
    for p in reversed(made):
        p.stop()


def test_a_clustered_pair_notifies_once(tmp_path: Path, procs: list[Proc]) -> None:
    need(ALERTMANAGER)
    sink = Sink()
    (tmp_path / "am.yml").write_text(f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1h
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{sink.url}", send_resolved: false}}]
""")
    gossip = [free_port(), free_port()]
    ams = []
    for i in (0, 1):
        port = free_port()
        (tmp_path / f"am{i}").mkdir()
        argv = [ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / f'am{i}'}",
                f"--web.listen-address=127.0.0.1:{port}", f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.peer=127.0.0.1:{gossip[1 - i]}", "--cluster.peer-timeout=2s",
                "--cluster.settle-timeout=2s", "--cluster.gossip-interval=100ms",
                "--cluster.pushpull-interval=1s", "--log.level=warn"]
        am = Proc(f"alertmanager{i}", tmp_path, argv, port, "/-/ready")
        procs.append(am.start())
        ams.append(am)
    # both see each other before alerts arrive
    deadline = time.time() + 30
    while any(len(am.http.get("/api/v2/status").json()["cluster"].get("peers") or []) < 2 for am in ams):
        assert time.time() < deadline, "the two Alertmanagers did not form a cluster"
        time.sleep(0.3)
    (tmp_path / "rules.yml").write_text("""
groups:
  - name: ha
    interval: 1s
    rules:
      - alert: SiteDegraded
        expr: vector(1)
        labels: {severity: warning}
""")
    gport = free_port()
    targets = ", ".join(f"'127.0.0.1:{am.port}'" for am in ams)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(f"""
global: {{evaluation_interval: 1s, external_labels: {{site: madrid}}}}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{{targets: [{targets}]}}]
scrape_configs: []
""")
    procs.append(guardia(tmp_path, cfg, gport).start())
    deadline = time.time() + 30
    while not sink.got:
        assert time.time() < deadline, "no notification reached the webhook"
        time.sleep(0.2)
    # each Alertmanager holds the alert; the second waited for the first's notification log
    for am in ams:
        alerts = am.http.get("/api/v2/alerts").json()
        assert [a["labels"]["alertname"] for a in alerts] == ["SiteDegraded"], am.name
        assert alerts[0]["labels"]["site"] == "madrid"
    time.sleep(8)  # longer than the second's wait (peer position × peer timeout) plus gossip
    assert len(sink.got) == 1, [n["groupKey"] for n in sink.got]
    assert [a["labels"]["alertname"] for a in sink.got[0]["alerts"]] == ["SiteDegraded"]
