"""Acknowledgement through a running guardia: the API, `guardia ack`, and the page the link in
a notification opens; who/when/why listed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contrib.sink import Sink
from tests.test_serve import Serve

CONFIG = """
scrape_configs: []
alertmanager:
  route:
    receiver: team
    group_by: [alertname]
    group_wait: 0s
    group_interval: 1s
    escalate: [{after: 0m, receiver: oncall}, {after: 1h, receiver: pager}]
  receivers:
    - name: team
      webhook_configs: [{url: "URL/team"}]
    - name: oncall
      webhook_configs: [{url: "URL/oncall"}]
    - name: pager
      webhook_configs: [{url: "URL/pager"}]
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serve, Sink]]:
    sink = Sink()
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.replace("URL", sink.url))
    s = Serve(tmp_path, "--config.file", str(cfg))
    try:
        s.wait_ready()
        yield s, sink
    finally:
        if s.proc.poll() is None:
            s.stop()
        sink.close()


def _wait_body(sink: Sink, path: str, alertname: str = "DiskFull", timeout: float = 15) -> dict[str, object]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p, body in list(sink.bodies):
            if p == path and body["groupLabels"].get("alertname") == alertname:
                return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"nothing sent to {path}: {sink.bodies}")


def test_ack_api_cli_and_link(served: tuple[Serve, Sink]) -> None:
    s, sink = served
    r = s.http.post("/api/v2/alerts", json=[{"labels": {"alertname": "DiskFull", "host": "db1"}},
                                            {"labels": {"alertname": "DiskFull", "host": "db2"}},
                                            {"labels": {"alertname": "QueueStuck"}}])
    assert r.status_code == 200
    team = _wait_body(sink, "/team")
    assert _wait_body(sink, "/oncall")["receiver"] == "oncall"
    link = team["alerts"][0]["annotations"]["ack_url"]  # type: ignore[index]
    assert link.startswith(s.url + "/ack/")
    # the link's page shows the alert and acknowledges it
    page = s.http.get(link.removeprefix(s.url))
    assert page.status_code == 200 and "DiskFull" in page.text and "<form method=post>" in page.text
    done = s.http.post(link.removeprefix(s.url), data={"by": "ana", "comment": "cleaning /var"})
    assert "Acknowledged by ana" in done.text
    assert s.http.get("/ack/0000000000000000.bad").status_code == 404
    # the API
    bad = s.http.post("/api/v1/acks", json={"matchers": "alertname=Nope", "by": "x"})
    assert bad.status_code == 400 and bad.json()["error"] == "no firing alert matches: nothing to acknowledge"
    # the CLI
    cli = [sys.executable, "-m", "guardia.cli.main", "ack"]
    out = subprocess.run([*cli, "QueueStuck", "-c", "restarting", "--by", "luis",
                          "--alertmanager.url", s.url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("acknowledged 1 alert(s) as luis"), out.stderr
    acks = s.http.get("/api/v1/acks").json()["data"]
    assert [(a["by"], a["comment"], a["matchers"]) for a in acks] == [
        ("ana", "cleaning /var", []), ("luis", "restarting", ['{alertname="QueueStuck"}'])]
    assert all(a["at"].endswith("Z") for a in acks)
    listed = subprocess.run([*cli, "--list", "--alertmanager.url", s.url], capture_output=True, text=True,
                            timeout=60)
    assert "luis" in listed.stdout and "restarting" in listed.stdout
    esc = s.http.get("/api/v1/escalations").json()["data"]
    steps = {e["groupKey"]: [(st["receiver"], st["reached"]) for st in e["steps"]] for e in esc}
    assert steps['{}:{alertname="DiskFull"}'] == [("oncall", True), ("pager", False)]
    assert s.http.delete(f"/api/v1/acks/{acks[0]['id']}").json()["status"] == "success"
    assert len(s.http.get("/api/v1/acks").json()["data"]) == 1
